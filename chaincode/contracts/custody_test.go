package contracts

import (
	"strings"
	"testing"
)

func TestAnActiveAgreementWithoutACustodyBookIsRefusedNotReadAsEmpty(t *testing.T) {
	w := newWorld(t)
	w.market()
	w.open("AGR-1", nil)
	// simulate a record written before custody books: the book reference is missing
	_, k := w.rawAgreementKey("AGR-1")
	w.ledger.state[k] = []byte(strings.Replace(string(w.ledger.state[k]), `"book":"AGR-1",`, "", 1))
	if strings.Contains(string(w.ledger.state[k]), `"book"`) {
		t.Fatal("the test did not remove the book reference")
	}
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-02", `{"prices":{"JP8306":"1100","JP8604":"400"}}`)
	const want = "agreement AGR-1 is active but has no custody book: its state was written by an earlier chaincode version without custody books; recreate the ledger"
	w.inPair(pairAB, func() { w.refuse(w.oracle, want, "margin:MarginCall", "AGR-1", "2025-06-02") })
	w.refuse(w.lender, want, "agreements:CollateralHeld", "AGR-1")
}
