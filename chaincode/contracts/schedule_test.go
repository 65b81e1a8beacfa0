package contracts

import (
	"encoding/json"
	"reflect"
	"testing"
)

// Tokens with the attributes a schedule reads: JP8306 and JP8604 are equities of two issuers,
// US-AAPL is unrated.
func scheduledTokens(w *world) {
	w.defineTokens()
	w.ok(w.tokenAdmin, "tokens:UpdateToken", tokenJSON("JP8306", KindSecurity, "JPY", map[string]string{"creditRating": "A", "issuer": "Mitsubishi UFJ"}))
	w.ok(w.tokenAdmin, "tokens:UpdateToken", tokenJSON("JP8604", KindSecurity, "JPY", map[string]string{"creditRating": "BBB", "issuer": "Nomura"}))
}

func TestScheduleDefinedOnceAndNamedByTerms(t *testing.T) {
	w := newWorld(t)
	w.market()
	scheduledTokens(w)
	w.pair = pairAB
	sch := `{"id":"SCH-A","assetClasses":["equity"],"minRating":"A-"}`
	w.ok(w.lender, "agreements:DefineSchedule", sch)
	w.expectEvent(EventScheduleDefined)
	w.refuse(w.borrower, "schedule SCH-A is already defined for pair-bank-a-bank-b: schedules do not change; define another id", "agreements:DefineSchedule", sch)
	var rec ScheduleRecord
	w.okJSON(w.borrower, &rec, "agreements:GetSchedule", "SCH-A")
	if rec.DefinedBy != "bank-a" || rec.Schedule.MinRating != "A-" || len(rec.Schedule.AssetClasses) != 1 {
		t.Fatalf("read back: %+v", rec)
	}
	w.refuse(w.oracle, errOperatorPrivate.Error(), "agreements:GetSchedule", "SCH-A")
	w.refusePrefix(w.lender, "invalid schedule: invalid_input", "agreements:DefineSchedule", `{"id":"SCH-B","minRating":"Aa2"}`)
	// JP8604 (BBB) is below A-: an agreement opening with it cannot be approved
	w.propose("AGR-S", func(m map[string]any) { m["scheduleId"] = "SCH-A" })
	w.refuse(w.borrower, "cannot approve agreement AGR-S: collateral JP8604 is not eligible under its schedule (rating)", "agreements:Approve", "AGR-S")
	w.refuse(w.lender, "no schedule SCH-X defined for bank-a and bank-b (DefineSchedule)", "agreements:Propose",
		termsJSON("AGR-X", func(m map[string]any) { m["scheduleId"] = "SCH-X" }))
	w.refuse(w.lender, "invalid terms: give a schedule or a scheduleId, not both", "agreements:Propose",
		termsJSON("AGR-Y", func(m map[string]any) { m["scheduleId"] = "SCH-A"; m["schedule"] = map[string]any{} }))
}

// A top-up skips the ineligible token and stops at the issuer cap; a breach after a price move is
// recorded and listed in the cycle's event.
func TestTopUpSkipsIneligibleAndCappedTokens(t *testing.T) {
	w := newWorld(t)
	w.market()
	scheduledTokens(w)
	w.pair = pairAB
	// JPY is cash (eligible); JP8604 below the minimum rating; an issuer cap of 60 %
	w.open("AGR-C", func(m map[string]any) {
		m["loan"] = map[string]any{"token": "JPY", "quantity": "1000000"}
		m["collateral"] = []any{
			map[string]any{"token": "JP8604", "quantity": "0"},
			map[string]any{"token": "JP8306", "quantity": "1000"},
			map[string]any{"token": "US-AAPL", "quantity": "0"},
		}
		m["haircut"] = "0"
		m["schedule"] = map[string]any{"minRating": "A-", "caps": []any{map[string]any{"by": "issuer", "max": "0.6"}}}
	})
	// 1,000 JP8306 at 1,000 = V_C 1,000,000: at 900 a shortfall of 100,000. JP8604 (CT1) is below
	// A-: skipped. JP8306 is the only issuer: its cap of 60 % of the collateral's value binds at
	// once (it is 100 %): skipped. US-AAPL is unrated: skipped. Nothing delivers.
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-02", `{"prices":{"JP8306":"900","JP8604":"500","US-AAPL":"200"},"fx":{"USDJPY":"150"}}`)
	var res SweepAgreementsResult
	w.okJSON(w.oracle, &res, "margin:SweepAgreements", "2025-06-02", idList("AGR-C"))
	var ev marginBatchEvent
	_ = json.Unmarshal([]byte(w.lastEvent.Raw), &ev)
	rec := w.marginCall(w.lender, "AGR-C", "2025-06-02")
	skipped := []string{}
	for _, s := range rec.Skipped {
		skipped = append(skipped, s.Token+":"+s.Reason)
	}
	if !reflect.DeepEqual(skipped, []string{"JP8604:ineligible", "JP8306:cap", "US-AAPL:ineligible"}) || len(rec.Transfers) != 0 ||
		len(rec.IssuanceRequired) != 1 {
		t.Fatalf("record: skipped %v, transfers %+v, issuance %+v", skipped, rec.Transfers, rec.IssuanceRequired)
	}
	if len(rec.Breaches) != 1 || rec.Breaches[0] != (BreachRecord{By: "issuer", Key: "Mitsubishi UFJ", Share: "1", Max: "3/5"}) ||
		!reflect.DeepEqual(ev.Breaches, []string{"AGR-C"}) {
		t.Fatalf("breaches: %+v, event %s", rec.Breaches, w.lastEvent.Raw)
	}
	w.checkConservation()
}

// A substitution delivers only eligible tokens, within the caps.
func TestSubstitutionHonoursTheSchedule(t *testing.T) {
	w := newWorld(t)
	w.market()
	scheduledTokens(w)
	w.pair = pairAB
	w.open("AGR-U", func(m map[string]any) {
		m["substitutionPreAuthorised"] = true
		m["schedule"] = map[string]any{"minRating": "A-"}
		m["collateral"] = []any{map[string]any{"token": "JP8306", "quantity": "2000"}, map[string]any{"token": "JP8604", "quantity": "0"}}
	})
	w.postDefaultPrices("2025-06-02")
	w.refuse(w.borrower, "agreement AGR-U on 2025-06-02: in: JP8604 is not eligible under the agreement's schedule (rating)",
		"agreements:Substitute", "AGR-U", substitutionJSON("JP8306", "10", "JP8604", "40"), "2025-06-02")
}
