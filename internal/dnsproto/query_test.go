package dnsproto

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/miekg/dns"
)

// RFC 1035 §4.1.1: the header counts say how many records follow; a
// header that promises more than the message holds is no query to answer
// (dns.Msg.Unpack takes it quietly).
func TestUnpackQueryCountsRFC1035_4_1_1(t *testing.T) {
	q := new(dns.Msg)
	q.SetQuestion("www.example.", dns.TypeA)
	q.SetEdns0(1232, true)
	b, _ := q.Pack()
	if err := UnpackQuery(b, new(dns.Msg)); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		lie := append([]byte(nil), b...)
		binary.BigEndian.PutUint16(lie[4+2*i:], binary.BigEndian.Uint16(lie[4+2*i:])+1)
		req := new(dns.Msg)
		err := UnpackQuery(lie, req)
		if err == nil {
			t.Errorf("count %d + 1: parsed", i)
			continue
		}
		m, size := FormErr(lie, req)
		if m.Rcode != dns.RcodeFormatError || m.Id != q.Id || !m.RecursionDesired || size < dns.MinMsgSize {
			t.Errorf("count %d + 1: reply %v size %d", i, m, size)
		}
		// The OPT was read whole in the arcount lie: RFC 6891 §7 wants ours.
		if i == 3 && m.IsEdns0() == nil {
			t.Errorf("arcount + 1: no OPT in the reply")
		}
		if i == 3 && !errors.Is(err, ErrCounts) {
			t.Errorf("arcount + 1: %v, want ErrCounts", err)
		}
	}
}

// FuzzUnpackQuery: no panic; a query that parses packs again and parses
// to the same message; one that does not gets a FORMERR reply that packs,
// carrying msg's ID.
func FuzzUnpackQuery(f *testing.F) {
	q := new(dns.Msg)
	q.SetQuestion("www.example.", dns.TypeA)
	b, _ := q.Pack()
	f.Add(b)
	q.SetEdns0(1232, true)
	q.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: []byte{192, 0, 2, 0}}}
	b, _ = q.Pack()
	f.Add(b)
	f.Add(append(b[:len(b):len(b)], 0xc0, 0xff))
	f.Add([]byte{0x12, 0x34, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, msg []byte) {
		if len(msg) < 12 {
			return
		}
		req := new(dns.Msg)
		if err := UnpackQuery(msg, req); err != nil {
			m, _ := FormErr(msg, req)
			if m.Id != binary.BigEndian.Uint16(msg) || m.Rcode != dns.RcodeFormatError {
				t.Fatalf("FormErr: %v", m)
			}
			Truncate(m, dns.MinMsgSize)
			if _, err := m.Pack(); err != nil {
				t.Fatalf("FormErr reply does not pack: %v", err)
			}
			return
		}
		again, err := req.Pack()
		if err != nil {
			return // a record dns.Msg reads but will not write
		}
		req2 := new(dns.Msg)
		if err := UnpackQuery(again, req2); err != nil {
			t.Fatalf("repacked query does not parse: %v", err)
		}
		if req.String() != req2.String() {
			t.Fatalf("round trip:\n%v\n%v", req, req2)
		}
	})
}
