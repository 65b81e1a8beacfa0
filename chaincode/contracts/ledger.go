package contracts

import (
	"encoding/json"
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
// Issuance and redemption are the only operations that change supply, with auto-issue in margin
// calls, which counts in the pair's mint account (below).
//
// Ownership: a balance key carries a state-based endorsement policy naming its holder's peers, so
// no transaction debits (or credits) a bank's balance without that bank's endorsement, whatever
// the chaincode-level policy. Fabric validates a new key against the chaincode-level policy, which
// a transaction endorsed by two banks does not meet, so the keys a bilateral transaction may touch
// exist before it: a bank's balance of every token, and each pair's mint account of every token,
// are created (at zero, with their policies) when the bank is registered or the token defined, and
// a zero balance is kept, not deleted.

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
	if q < 0 {
		return fmt.Errorf("internal error: negative balance for %s in %s", party, token)
	}
	if prior, err := t.get(key); err != nil {
		return err
	} else if prior == nil {
		if err := t.setBilateralPolicy(key, party); err != nil {
			return err
		}
	}
	return t.putJSON(key, Balance{Party: party, Token: token, Quantity: formatQuantity(q)})
}

// provisionBalance creates party's zero balance of token, with its holder policy, if absent.
func (t *txn) provisionBalance(party, token string) error {
	key, err := t.key(keyBalance, party, token)
	if err != nil {
		return err
	}
	if v, err := t.get(key); err != nil || v != nil {
		return err
	}
	return t.setFreeBalance(party, token, 0)
}

// PairMint is a pair's mint account of one token: what auto-issue in the pair's margin calls has
// minted. It is public (supply is), and only the pair's two banks endorse its changes.
type PairMint struct {
	Token      string `json:"token"`
	Collection string `json:"collection"`
	Minted     string `json:"minted"`
}

// provisionPairMint creates the mint account of token for the pair of banks a and b, if absent.
func (t *txn) provisionPairMint(a, b, token string) error {
	coll := pairCollection(a, b)
	key, err := t.key(keyPairMint, token, coll)
	if err != nil {
		return err
	}
	return t.provisionKey(key, PairMint{Token: token, Collection: coll, Minted: "0"}, a, b)
}

// provisionKey creates a public key with value under the endorsement policy of parties' peers,
// if absent: a bilateral transaction may change such a key, not create it (ledger.go).
func (t *txn) provisionKey(key string, value any, parties ...string) error {
	if v, err := t.get(key); err != nil || v != nil {
		return err
	}
	if err := t.setBilateralPolicy(key, parties...); err != nil {
		return err
	}
	return t.putJSON(key, value)
}

// provisionParty creates, at a bank's first registration, its balances of every token and the
// sweep marker and mint accounts of its pairs with every bank registered before it.
func (t *txn) provisionParty(party string) error {
	banks, err := t.bankParties()
	if err != nil {
		return err
	}
	if added, err := t.addBank(party); err != nil || !added {
		return err
	}
	tokens, err := t.tokenIDs()
	if err != nil {
		return err
	}
	for _, other := range banks {
		if other != party {
			if err := t.provisionPairSweep(party, other); err != nil {
				return err
			}
		}
	}
	for _, tok := range tokens {
		if err := t.provisionBalance(party, tok); err != nil {
			return err
		}
		for _, other := range banks {
			if other == party {
				continue
			}
			if err := t.provisionPairMint(party, other, tok); err != nil {
				return err
			}
		}
	}
	return nil
}

// provisionToken creates every registered bank's balance of a new token and every pair's mint
// account of it.
func (t *txn) provisionToken(token string) error {
	banks, err := t.bankParties()
	if err != nil {
		return err
	}
	for i, a := range banks {
		if err := t.provisionBalance(a, token); err != nil {
			return err
		}
		for _, b := range banks[i+1:] {
			if err := t.provisionPairMint(a, b, token); err != nil {
				return err
			}
		}
	}
	return nil
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

// mintInPair creates q tokens in party's free balance by auto-issue in a margin call of the pair
// coll, counted in the pair's mint account, and returns the token's total supply after it.
func (t *txn) mintInPair(coll, party, token string, q int64) (int64, error) {
	key, err := t.key(keyPairMint, token, coll)
	if err != nil {
		return 0, err
	}
	var pm PairMint
	found, err := t.getJSON(key, &pm)
	if err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf("no mint account of %s for the pair %s: it is created when the token is defined or a bank registered", token, coll)
	}
	minted, err := parseStoredQuantity(pm.Minted)
	if err != nil {
		return 0, err
	}
	nm, err := addQuantity(minted, q)
	if err != nil {
		return 0, fmt.Errorf("auto-issued %s of %s: %w", token, coll, err)
	}
	if err := t.credit(party, token, q); err != nil {
		return 0, err
	}
	pm.Minted = formatQuantity(nm)
	if err := t.putJSON(key, pm); err != nil {
		return 0, err
	}
	return t.totalSupply(token)
}

// totalSupply is the token administrator's supply plus every pair's auto-issued tokens.
func (t *txn) totalSupply(token string) (int64, error) {
	total, err := t.supply(token)
	if err != nil {
		return 0, err
	}
	err = t.scanPartialKey(keyPairMint, []string{token}, func(k string, v []byte) (bool, error) {
		// the working set may hold this transaction's own change to the account
		if cached, ok := t.values[k]; ok && cached != nil {
			v = cached
		}
		var pm PairMint
		if err := json.Unmarshal(v, &pm); err != nil {
			return false, fmt.Errorf("corrupt mint account: %w", err)
		}
		m, err := parseStoredQuantity(pm.Minted)
		if err != nil {
			return false, err
		}
		if total, err = addQuantity(total, m); err != nil {
			return false, fmt.Errorf("supply of %s: %w", token, err)
		}
		return true, nil
	})
	return total, err
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
