package contracts

import "testing"

func TestSmoke(t *testing.T) {
	w := newWorld(t)
	w.market()
	t.Log(w.ok(w.lender, "roles:WhoAmI"))
	t.Log(w.ok(w.opAdmin, "roles:WhoAmI"))
	t.Log(w.ok(w.lender, "tokens:BalanceOf", ""))
	w.checkConservation()
}
