package main

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The journey's recursive resolver answers a query with another opcode
// as its own Server does: NOTIMP with the query's RD and question, and an
// OPT because the query had one (RFC 6891 §7). A dns.Server in front
// answered NOTIMP itself, without them.
func TestRecursiveServerAnswersNOTIMPWithOPT_RFC6891_7(t *testing.T) {
	in := &internet{clock: &simClock{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}, metrics: newMetrics()}
	in.geo.dnsClock = &simClock{now: in.clock.now}
	defer in.close()
	if err := in.startDNS(); err != nil {
		t.Fatal(err)
	}
	if err := in.startResolvers(); err != nil {
		t.Fatal(err)
	}
	q := new(dns.Msg)
	q.SetQuestion("www.shop.com.", dns.TypeA)
	q.Opcode = dns.OpcodeStatus
	q.RecursionDesired = true
	q.SetEdns0(1232, false)
	r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(q, in.recServer.PacketConn.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	if r.Rcode != dns.RcodeNotImplemented || r.IsEdns0() == nil || !r.RecursionDesired || len(r.Question) != 1 {
		t.Fatalf("reply:\n%v", r)
	}
}
