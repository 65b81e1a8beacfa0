package contracts

import (
	"encoding/json"
	"reflect"
	"testing"

	"tanpo/chaincode/margin"
)

func TestStoredMarginCallRestoresTheWholeRecord(t *testing.T) {
	a := &Agreement{ID: "AGR-R", Terms: Terms{Lender: "bank-a", Borrower: "bank-b", BaseCurrency: "JPY"}}
	own := func(dir, settle string) MarginTransfer {
		tr := MarginTransfer{Token: "JP8306", Quantity: "12", Direction: dir, From: "bank-b", To: "bank-a",
			Value: "1188/5", MarketValue: "264", TradeDate: "2025-06-03", SettleDate: settle}
		if dir == "lender->borrower" {
			tr.From, tr.To = "bank-a", "bank-b"
		}
		return tr
	}
	earlier := MarginTransfer{Token: "JP8604", Quantity: "3", Direction: "borrower->lender", From: "bank-b", To: "bank-a",
		Value: "30", MarketValue: "30", TradeDate: "2025-06-01", SettleDate: "2025-06-03"}
	base := func() MarginCallRecord {
		return MarginCallRecord{Agreement: "AGR-R", Date: "2025-06-03", Lender: "bank-a", Borrower: "bank-b",
			BaseCurrency: "JPY", PriceVersion: 2, Prices: map[string]string{"JP8306": "22"}, FX: map[string]string{"JPY": "1"},
			VL: "100", VCBefore: "90", GapBefore: "-10", Transfers: []MarginTransfer{}, IssuanceRequired: []MarginIssuance{},
			Mints: []MarginMint{}, VCAfter: "100", GapAfter: "0", Settled: []MarginTransfer{}, Pending: []MarginTransfer{},
			Held: map[string]string{"JP8306": "40"}, Fails: []SettlementFail{}, Accruals: []AccrualLine{}, Skipped: []margin.SkippedToken{}, Breaches: []BreachRecord{}, CalledBy: "operator", TxID: "tx1", Timestamp: "2025-06-03T21:00:00Z"}
	}
	cases := map[string]func(r *MarginCallRecord){
		"no call": func(r *MarginCallRecord) {},
		"lag 0, delivered": func(r *MarginCallRecord) {
			r.Triggered, r.Transfers = true, []MarginTransfer{own("borrower->lender", r.Date)}
			r.Settled = append(r.Settled, r.Transfers...)
		},
		"lag 0, returned, with a mint and an issuance": func(r *MarginCallRecord) {
			r.Triggered = true
			r.Transfers = []MarginTransfer{own("lender->borrower", r.Date), own("lender->borrower", r.Date)}
			r.Transfers[1].Token = "JP8604"
			r.Settled = append(r.Settled, r.Transfers...)
			r.Mints = []MarginMint{{Party: "bank-a", Role: "lender", Token: "JP8306", Quantity: "5", Supply: "105"}}
			r.IssuanceRequired = []MarginIssuance{{Party: "bank-b", Role: "borrower", Token: "JP8306", Value: "7"}}
		},
		"lagged, earlier ones settled and pending": func(r *MarginCallRecord) {
			r.Triggered, r.Transfers = true, []MarginTransfer{own("borrower->lender", "2025-06-05")}
			r.Settled = []MarginTransfer{earlier}
			r.Pending = append([]MarginTransfer{earlier}, r.Transfers...)
		},
		"lagged, nothing moved": func(r *MarginCallRecord) { r.Pending = []MarginTransfer{earlier} },
	}
	for name, change := range cases {
		want := base()
		change(&want)
		stored := storeMarginCall(&want)
		v, err := json.Marshal(stored)
		if err != nil {
			t.Fatal(err)
		}
		full, _ := json.Marshal(want)
		if len(want.Transfers) > 0 && len(v) >= len(full)*3/4 {
			t.Errorf("%s: stored %d bytes, the full record %d", name, len(v), len(full))
		}
		var back storedMarginCall
		if err := json.Unmarshal(v, &back); err != nil {
			t.Fatal(err)
		}
		if got := back.record(a); !reflect.DeepEqual(*got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, *got, want)
		}
	}
}
