package contracts

import (
	"fmt"
)

// Token accounting. Every token unit is in exactly one place:
//
//   - a party's free balance (key tanpo.balance [party, token]); free balances are what Transfer,
//     redemption and the opening and closing legs of agreements draw on;
//   - collateral held by a lender under one agreement (its part of a custody book, custody.go); it
//     is not part of the lender's free balance, so a lender with several agreements can never hand
//     back one agreement's collateral under another.
//
// A position can go negative only through a margin call with auto-issue, when the lender returns
// more of a token than it holds under the agreement (tokens minted for it); the negative part is
// the borrower's obligation to redeliver at close, not tokens in existence. Hence the invariant,
// for every token:
//
//	supply = Σ free balances + Σ max(position, 0)
//
// Issuance and redemption are the only operations that change supply.

// Balance is the free balance of one token held by one party.
type Balance struct {
	Party    string `json:"party"`
	Token    string `json:"token"`
	Quantity string `json:"quantity"`
}

// Supply is the total supply of one token.
type Supply struct {
	Token  string `json:"token"`
	Supply string `json:"supply"`
}

func (t *txn) freeBalance(party, token string) (int64, error) {
	key, err := t.key(keyBalance, party, token)
	if err != nil {
		return 0, err
	}
	var b Balance
	found, err := t.getJSON(key, &b)
	if err != nil || !found {
		return 0, err
	}
	return parseStoredQuantity(b.Quantity)
}

func (t *txn) setFreeBalance(party, token string, q int64) error {
	key, err := t.key(keyBalance, party, token)
	if err != nil {
		return err
	}
	if q == 0 {
		t.del(key)
		return nil
	}
	if q < 0 {
		return fmt.Errorf("internal error: negative balance for %s in %s", party, token)
	}
	return t.putJSON(key, Balance{Party: party, Token: token, Quantity: formatQuantity(q)})
}

// credit adds q to a free balance.
func (t *txn) credit(party, token string, q int64) error {
	bal, err := t.freeBalance(party, token)
	if err != nil {
		return err
	}
	nb, err := addQuantity(bal, q)
	if err != nil {
		return fmt.Errorf("balance of %s in %s: %w", party, token, err)
	}
	return t.setFreeBalance(party, token, nb)
}

// debit takes q from a free balance or fails naming the party, token, need and availability.
func (t *txn) debit(party, token string, q int64) error {
	bal, err := t.freeBalance(party, token)
	if err != nil {
		return err
	}
	if bal < q {
		return insufficient(party, token, q, bal)
	}
	return t.setFreeBalance(party, token, bal-q)
}

func insufficient(party, token string, need, have int64) error {
	return fmt.Errorf("insufficient balance: %s needs %d %s but has %d free", party, need, token, have)
}

// move transfers q between free balances.
func (t *txn) move(from, to, token string, q int64) error {
	if err := t.debit(from, token, q); err != nil {
		return err
	}
	return t.credit(to, token, q)
}

func (t *txn) supply(token string) (int64, error) {
	key, err := t.key(keySupply, token)
	if err != nil {
		return 0, err
	}
	var s Supply
	found, err := t.getJSON(key, &s)
	if err != nil || !found {
		return 0, err
	}
	return parseStoredQuantity(s.Supply)
}

func (t *txn) setSupply(token string, q int64) error {
	key, err := t.key(keySupply, token)
	if err != nil {
		return err
	}
	return t.putJSON(key, Supply{Token: token, Supply: formatQuantity(q)})
}

// mint creates q tokens in party's free balance and returns the new supply.
func (t *txn) mint(party, token string, q int64) (int64, error) {
	s, err := t.supply(token)
	if err != nil {
		return 0, err
	}
	ns, err := addQuantity(s, q)
	if err != nil {
		return 0, fmt.Errorf("supply of %s: %w", token, err)
	}
	if err := t.credit(party, token, q); err != nil {
		return 0, err
	}
	if err := t.setSupply(token, ns); err != nil {
		return 0, err
	}
	return ns, nil
}

// burn destroys q tokens from party's free balance and returns the new supply.
func (t *txn) burn(party, token string, q int64) (int64, error) {
	s, err := t.supply(token)
	if err != nil {
		return 0, err
	}
	if err := t.debit(party, token, q); err != nil {
		return 0, err
	}
	if s < q {
		return 0, fmt.Errorf("internal error: supply of %s (%d) below the burn of %d", token, s, q)
	}
	if err := t.setSupply(token, s-q); err != nil {
		return 0, err
	}
	return s - q, nil
}

// deliverCollateral moves q tokens from the borrower to the lender under agreement a: the part that
// settles a negative position (the borrower's redelivery obligation) goes to the lender's free
// balance, the rest into custody under the agreement.
func (t *txn) deliverCollateral(a *Agreement, token string, q int64) error {
	held, err := t.position(a, token)
	if err != nil {
		return err
	}
	if err := t.debit(a.Terms.Borrower, token, q); err != nil {
		return err
	}
	if held < 0 {
		owed := min(-held, q)
		if err := t.credit(a.Terms.Lender, token, owed); err != nil {
			return err
		}
	}
	nh, err := addQuantity(held, q)
	if err != nil {
		return fmt.Errorf("collateral %s under %s: %w", token, a.ID, err)
	}
	return t.setPosition(a, token, nh)
}

// returnCollateral moves q tokens from the lender to the borrower under agreement a: first from
// custody under the agreement, then (when q exceeds what is held) from the lender's free balance,
// which makes the position negative.
func (t *txn) returnCollateral(a *Agreement, token string, q int64) error {
	held, err := t.position(a, token)
	if err != nil {
		return err
	}
	fromCustody := min(max(held, 0), q)
	if extra := q - fromCustody; extra > 0 {
		if err := t.debit(a.Terms.Lender, token, extra); err != nil {
			return err
		}
	}
	if err := t.credit(a.Terms.Borrower, token, q); err != nil {
		return err
	}
	nh, err := subQuantity(held, q)
	if err != nil {
		return fmt.Errorf("collateral %s under %s: %w", token, a.ID, err)
	}
	return t.setPosition(a, token, nh)
}
