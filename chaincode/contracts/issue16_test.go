package contracts

import (
	"strings"
	"testing"
	"time"
)

// Issue 16: the chaincode refuses what cannot be right, uses business dates, and does not tell a
// bank whether another's agreement exists.

func TestTransferToUnregisteredPartyIsRefused(t *testing.T) {
	w := newWorld(t)
	w.market()
	// 100 JPY to a bank nobody registered would be stranded: nobody could ever move it
	w.refuse(w.lender, "recipient bank-z is not a registered party: no active identity of BankZMSP has the party role in the role registry", "tokens:Transfer", "JPY", "bank-z", "100")
	// nor to a bank whose identities are all revoked
	extra := w.cas["BankCMSP"].member(t, "bank-c user 2", "User2", "client")
	reg := w.register(extra, "bank-c", RoleParty)
	w.ok(w.lender, "tokens:Transfer", "JPY", "bank-c", "100")
	w.ok(w.opAdmin, "roles:RevokeIdentity", reg.ID, "left")
	w.ok(w.lender, "tokens:Transfer", "JPY", "bank-c", "100") // bank-c's User1 is still active
	var c Identity
	w.okJSON(w.bankC, &c, "roles:WhoAmI")
	w.ok(w.opAdmin, "roles:RevokeIdentity", c.ID, "left")
	w.refuse(w.lender, "recipient bank-c is not a registered party: no active identity of BankCMSP has the party role in the role registry", "tokens:Transfer", "JPY", "bank-c", "100")
	if got := w.rawBalance("bank-c", "JPY"); got != 200 {
		t.Fatalf("bank-c holds %d JPY, want 200", got)
	}
	w.checkConservation()
}

func TestProposeWithUnregisteredPartyIsRefused(t *testing.T) {
	w := newWorld(t)
	w.market()
	w.refuse(w.lender, "borrower bank-z is not a registered party: no active identity of BankZMSP has the party role in the role registry",
		"agreements:Propose", termsJSON("AGR-Z", func(m map[string]any) { m["borrower"] = "bank-z" }))
	w.refuse(w.borrower, "lender bank-z is not a registered party: no active identity of BankZMSP has the party role in the role registry",
		"agreements:Propose", termsJSON("AGR-Z", func(m map[string]any) { m["lender"] = "bank-z" }))
	batch := "[" + termsJSON("B-1", nil) + "," + termsJSON("B-2", func(m map[string]any) { m["borrower"] = "bank-q" }) + "]"
	w.refuse(w.lender, "terms 2: borrower bank-q is not a registered party: no active identity of BankQMSP has the party role in the role registry",
		"agreements:ProposeBatch", batch)
	// a bank that is neither lender nor borrower is refused for that first
	w.refuse(w.lender, "access denied: bank-a can only propose agreements in which it is the lender or the borrower",
		"agreements:Propose", termsJSON("AGR-Z", func(m map[string]any) { m["lender"], m["borrower"] = "bank-b", "bank-z" }))
	w.propose("AGR-1", nil)
}

func TestUnknownCurrenciesAreRefused(t *testing.T) {
	w := newWorld(t)
	w.market()
	// no token is denominated in EUR: an agreement valued in EUR could never be priced
	w.refuse(w.lender, "unknown baseCurrency EUR: no token is denominated in it (define a token in EUR first)",
		"agreements:Propose", termsJSON("AGR-E", func(m map[string]any) { m["baseCurrency"] = "EUR" }))
	w.refuse(w.lender, `invalid baseCurrency "jpy": expected an ISO 4217 code such as "JPY"`,
		"agreements:Propose", termsJSON("AGR-E", func(m map[string]any) { m["baseCurrency"] = "jpy" }))
	// a currency of one of the agreement's tokens, or of any defined token, is known
	w.propose("AGR-J", nil)
	w.propose("AGR-U", func(m map[string]any) { m["baseCurrency"] = "USD" })
	// FX pairs: malformed, the same currency twice, or a pair and its inverse
	w.refuse(w.oracle, `invalid FX pair "USDUSD": expected two different ISO currency codes such as "USDJPY"`,
		"oracle:PostPrices", "2025-06-06", `{"fx":{"USDUSD":"1"}}`)
	w.refuse(w.oracle, `invalid FX pair "USDJP": expected two different ISO currency codes such as "USDJPY"`,
		"oracle:PostPrices", "2025-06-06", `{"fx":{"USDJP":"1"}}`)
	w.refuse(w.oracle, "invalid FX pair JPYUSD: the batch also has its inverse USDJPY; post one direction (the other is derived)",
		"oracle:PostPrices", "2025-06-06", `{"fx":{"USDJPY":"150","JPYUSD":"0.0066"}}`)
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-06", `{"fx":{"USDJPY":"150"}}`)
	w.refuse(w.oracle, "invalid FX pair JPYUSD: USDJPY is already posted for 2025-06-06; post one direction (the other is derived)",
		"oracle:CorrectPrices", "2025-06-06", `{"fx":{"JPYUSD":"0.0066"}}`, "inverse")
}

func TestPricesAfterTheBusinessDateAreRefused(t *testing.T) {
	w := newWorld(t)
	w.market()
	// 2025-06-06 09:00 UTC is 18:00 in Tokyo: tomorrow has not come
	w.refuse(w.oracle, "date 2025-06-07 is after the current business date 2025-06-06 (Asia/Tokyo): prices are posted for a date once it has come",
		"oracle:PostPrices", "2025-06-07", `{"prices":{"JP8306":"1000"}}`)
	w.refuse(w.oracle, "date 2025-06-09 is after the current business date 2025-06-06 (Asia/Tokyo): prices are posted for a date once it has come",
		"oracle:PostPrices", "2025-06-09", `{"prices":{"JP8306":"1000"}}`)
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-06", `{"prices":{"JP8306":"1000"}}`)
	// at 00:30 in Tokyo (15:30 UTC) the Tokyo date has come although the UTC date has not
	w.clock = time.Date(2025, 6, 6, 15, 29, 59, 0, time.UTC)
	w.ok(w.oracle, "oracle:PostPrices", "2025-06-07", `{"prices":{"JP8306":"1000"}}`)
	var last LastDate
	w.okJSON(w.oracle, &last, "oracle:LastPostedDate")
	if last.Date != "2025-06-07" {
		t.Fatalf("last posted %+v", last)
	}
}

func TestCloseOnTheMaturityDateInTokyoMorning(t *testing.T) {
	w := newWorld(t)
	w.market()
	w.open("AGR-1", func(m map[string]any) { m["endDate"] = "2025-12-31" })
	w.open("AGR-2", func(m map[string]any) { m["endDate"] = "2025-12-31" })
	// 08:00 in Tokyo on the maturity date is 23:00 UTC the day before
	w.clock = time.Date(2025, 12, 30, 22, 59, 59, 0, time.UTC)
	var a Agreement
	w.okJSON(w.lender, &a, "agreements:Close", "AGR-1")
	if a.Status != StatusClosed {
		t.Fatalf("status %s", a.Status)
	}
	// the operator may set another business time zone: in UTC it is still 2025-12-30
	w.ok(w.opAdmin, "roles:SetBusinessTimeZone", "UTC")
	ev := w.expectEvent(EventSettingsChanged)
	if ev["previousTimeZone"] != DefaultTimeZone {
		t.Fatalf("event %v", ev)
	}
	w.clock = time.Date(2025, 12, 30, 23, 0, 0, 0, time.UTC)
	w.refuse(w.lender, "agreement AGR-2 ends on 2025-12-31 (today is 2025-12-30 in UTC): before then close it by early termination (RequestTermination, then AcceptTermination by the counterparty)",
		"agreements:Close", "AGR-2")
	w.clock = time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)
	w.ok(w.borrower, "agreements:Close", "AGR-2")
	w.checkConservation()
}

func TestBusinessTimeZoneSetting(t *testing.T) {
	w := newWorld(t)
	var s PlatformSettings
	w.okJSON(w.lender, &s, "roles:GetPlatformSettings")
	if s.TimeZone != "Asia/Tokyo" || s.UTCOffset != "+09:00" || s.BusinessDate != "2025-06-06" {
		t.Fatalf("default settings %+v", s)
	}
	for _, c := range []struct{ zone, want string }{
		{"Europe/London", `unsupported time zone "Europe/London": expected a zone without daylight saving time`},
		{"Asia/Tokio", `unsupported time zone "Asia/Tokio"`},
		{"", `unsupported time zone ""`},
		{"UTC+15:00", `invalid time zone "UTC+15:00": an offset runs from UTC-12:00 to UTC+14:00 in steps of 15 minutes`},
		{"UTC+05:10", `invalid time zone "UTC+05:10"`},
	} {
		res := w.call(w.opAdmin, "roles:SetBusinessTimeZone", c.zone)
		if res.status == 200 || !strings.HasPrefix(res.message, c.want) {
			t.Fatalf("zone %q: %d %s", c.zone, res.status, res.message)
		}
	}
	w.refusePrefix(w.tokenAdmin, "access denied: only an admin of OperatorMSP", "roles:SetBusinessTimeZone", "UTC")
	w.ok(w.opAdmin, "roles:SetBusinessTimeZone", "Asia/Tokyo")
	w.noWrites("SetBusinessTimeZone (unchanged)")
	w.clock = time.Date(2025, 6, 6, 20, 0, 0, 0, time.UTC)
	w.okJSON(w.opAdmin, &s, "roles:SetBusinessTimeZone", "UTC-05:00")
	if s.TimeZone != "UTC-05:00" || s.UTCOffset != "-05:00" || s.BusinessDate != "2025-06-06" {
		t.Fatalf("settings %+v", s)
	}
	w.okJSON(w.bankC, &s, "roles:GetPlatformSettings")
	if s.TimeZone != "UTC-05:00" || s.BusinessDate != "2025-06-06" || s.UpdatedBy == "" {
		t.Fatalf("settings %+v", s)
	}
}

// TestNonPartyCannotTellWhetherAnAgreementExists runs every function on one agreement as a bank
// that is not a party to it and on an id that does not exist: the refusals read the same (but for
// the id). The operator side is told when an agreement does not exist.
func TestNonPartyCannotTellWhetherAnAgreementExists(t *testing.T) {
	w := newWorld(t)
	w.market()
	w.open("AGR-1", nil)
	w.propose("AGR-2", nil)
	w.postDefaultPrices("2025-06-02")
	w.inPair(pairAB, func() { w.ok(w.oracle, "margin:MarginCall", "AGR-1", "2025-06-02") })
	for _, c := range []struct {
		fn   string
		args func(id string) []string
	}{
		{"agreements:GetAgreement", func(id string) []string { return []string{id} }},
		{"agreements:CollateralHeld", func(id string) []string { return []string{id} }},
		{"agreements:Approve", func(id string) []string { return []string{id} }},
		{"agreements:Reject", func(id string) []string { return []string{id, "no"} }},
		{"agreements:Withdraw", func(id string) []string { return []string{id} }},
		{"agreements:Close", func(id string) []string { return []string{id} }},
		{"agreements:RequestTermination", func(id string) []string { return []string{id, ""} }},
		{"agreements:AcceptTermination", func(id string) []string { return []string{id} }},
		{"agreements:CancelTermination", func(id string) []string { return []string{id, ""} }},
		{"agreements:ApproveBatch", func(id string) []string { return []string{idList(id)} }},
		{"margin:MarginCall", func(id string) []string { return []string{id, "2025-06-03"} }},
		{"margin:GetMarginCall", func(id string) []string { return []string{id, "2025-06-02"} }},
		{"margin:ListMarginCalls", func(id string) []string { return []string{id, "", ""} }},
		{"margin:SweepAgreements", func(id string) []string { return []string{"2025-06-02", idList(id)} }},
		{"margin:GetSweepFailure", func(id string) []string { return []string{id, "2025-06-02"} }},
	} {
		for _, existing := range []string{"AGR-1", "AGR-2"} {
			w.run(t, c.fn+"/"+existing, func() {
				exists := w.call(w.bankC, c.fn, c.args(existing)...)
				missing := w.call(w.bankC, c.fn, c.args("AGR-9")...)
				if exists.status == 200 || missing.status == 200 {
					t.Fatalf("%s: bank-c was let in", c.fn)
				}
				if strings.ReplaceAll(exists.message, existing, "AGR-9") != missing.message {
					t.Fatalf("%s: the refusals differ\n  existing: %s\n  missing:  %s", c.fn, exists.message, missing.message)
				}
				if !strings.HasPrefix(missing.message, "access denied: ") {
					t.Fatalf("%s: %s", c.fn, missing.message)
				}
			})
		}
	}
	// the operator reads no bilateral record; sweeping the pair it names, it is told that an
	// agreement does not exist there
	w.refuse(w.oracle, errOperatorPrivate.Error(), "agreements:GetAgreement", "AGR-9")
	w.inPair(pairAB, func() { w.refuse(w.oracle, "no agreement AGR-9", "margin:MarginCall", "AGR-9", "2025-06-02") })
}
