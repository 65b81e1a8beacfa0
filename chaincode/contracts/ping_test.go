package contracts

import (
	"strings"
	"testing"
)

func TestPing(t *testing.T) {
	w := newWorld(t)
	var rec PingRecord
	w.okJSON(w.lender, &rec, "ping:Ping", "hello")
	txID := w.lastStub.txID
	if rec.TxID != txID || rec.Message != "hello" || rec.Party != "bank-a" || rec.Timestamp != "2025-06-06T09:00:06Z" {
		t.Fatalf("record: %+v", rec)
	}
	ev := w.expectEvent(EventPing)
	if ev["message"] != "hello" || ev["party"] != "bank-a" {
		t.Fatalf("event: %v", ev)
	}
	if len(w.lastStub.writes) != 1 {
		t.Fatalf("Ping wrote %d keys, want 1", len(w.lastStub.writes))
	}
	// a second ping writes another key: concurrent pings never conflict
	w.ok(w.borrower, "ping:Ping", "")
	var got PingRecord
	w.okJSON(w.bankC, &got, "ping:GetPing", txID)
	if got != rec {
		t.Fatalf("GetPing: %+v", got)
	}
	w.noWrites("GetPing")
	// the operator's admin may ping before anyone is registered (network smoke test)
	w.ok(w.opAdmin, "ping:Ping", "smoke")
}

func TestPingRefusals(t *testing.T) {
	w := newWorld(t)
	w.refuse(w.stranger, "access denied: the caller (MSP BankAMSP, subject CN=Stranger@banka.example.com,OU=client,L=San Francisco,ST=California,C=US) is not registered in the role registry", "ping:Ping", "x")
	w.refuse(w.lender, "message is longer than 1024 bytes", "ping:Ping", strings.Repeat("x", 1025))
	w.refuse(w.lender, "message is not valid UTF-8", "ping:Ping", "\xff")
	w.refuse(w.lender, "message contains a control or invalid character", "ping:Ping", "a\x00b")
	w.refuse(w.lender, "no ping with transaction id abc", "ping:GetPing", "abc")
	w.refuse(w.lender, `invalid transaction id ""`, "ping:GetPing", "")
	w.refuse(w.lender, `invalid transaction id "a:b"`, "ping:GetPing", "a:b")
}

func TestNoop(t *testing.T) {
	w := newWorld(t)
	res := w.call(w.lender, "ping:Noop")
	if res.status != 200 || res.payload != "" {
		t.Fatalf("Noop: %d %q %s", res.status, res.payload, res.message)
	}
	w.noWrites("Noop")
	// it reads only the caller's registration
	for _, c := range res.stub.calls {
		if c != "GetState" {
			t.Fatalf("Noop called %s", c)
		}
	}
	if n := len(res.stub.calls); n != 1 {
		t.Fatalf("Noop made %d state calls, want 1", n)
	}
	w.refuse(w.stranger, "access denied: the caller (MSP BankAMSP, subject CN=Stranger@banka.example.com,OU=client,L=San Francisco,ST=California,C=US) is not registered in the role registry", "ping:Noop")
}
