package contracts

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func sampleAgreement(historyLen int) *Agreement {
	var terms Terms
	if err := json.Unmarshal([]byte(mustJSON(termsMap("AGR-D"))), &terms); err != nil {
		panic(err)
	}
	a := &Agreement{ID: "AGR-D", Status: StatusActive, Terms: terms, Proposer: "bank-a", Book: "AGR-C",
		Termination: &TerminationRequest{RequestedBy: "bank-b", Note: `a "quoted" note, with {braces}`},
		CreatedAt:   "2025-06-01T00:00:00Z", UpdatedAt: "2025-06-02T00:00:00Z"}
	for i := 0; i < historyLen; i++ {
		a.History = append(a.History, HistoryEntry{Action: "APPROVED", Status: StatusActive, Party: "bank-b",
			Identity: strings.Repeat("x", 260), Transfers: []Transfer{{Token: "JP8306", Quantity: "2000", From: "bank-b", To: "bank-a"}}})
	}
	return a
}

func TestDecodeAgreementCoreEqualsAFullDecode(t *testing.T) {
	for _, n := range []int{0, 1, 5} {
		for _, book := range []string{"", "AGR-C"} {
			a := sampleAgreement(n)
			a.Book = book
			v, err := json.Marshal(a)
			if err != nil {
				t.Fatal(err)
			}
			var want agreementCore
			if err := json.Unmarshal(v, &want); err != nil {
				t.Fatal(err)
			}
			got, err := decodeAgreementCore(v)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, want) {
				t.Fatalf("history %d, book %q:\n got %+v\nwant %+v", n, book, *got, want)
			}
		}
	}
}

func TestDecodeAgreementCoreRefusesCorruptRecords(t *testing.T) {
	for _, v := range []string{``, `[]`, `{"id":`, `{"id":"A","status":1}`, `{"status":"ACTIVE"}`, `{"id":"A","terms":{"loan":[}}`} {
		if _, err := decodeAgreementCore([]byte(v)); err == nil || !strings.Contains(err.Error(), "corrupt record in state") {
			t.Fatalf("%q: %v", v, err)
		}
	}
}

// go test -run '^$' -bench AgreementCore ./contracts: the sweep's per-agreement decode.
func BenchmarkDecodeAgreementCore(b *testing.B) {
	v, _ := json.Marshal(sampleAgreement(2))
	b.Run("leading-fields", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := decodeAgreementCore(v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("unmarshal", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			var core agreementCore
			if err := json.Unmarshal(v, &core); err != nil {
				b.Fatal(err)
			}
		}
	})
}
