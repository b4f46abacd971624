package resolver

import (
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/edgekit/edgekit/internal/dnsproto"
	"github.com/miekg/dns"
)

// Packed replies for cache hits.
//
// A cache hit's reply is the same message, byte for byte, for every hit
// of a second but for a few header bits: its answer and authority
// sections are sets shared by the hits of that second (aged, joinAnswer),
// its question is the client's, its OPT ours. Packing it again on every
// hit cost most of a validated hit with DO (the RRSIGs' base64
// signatures decoded, names compressed through a map). As Unbound and
// Knot keep packed replies, the Server keeps the reply packed once, with
// what it was packed from, and gives later hits a copy with their own ID,
// CD, AD and DO bits written in.
//
// The key is what the bytes are made of: the identity of the shared
// answer and authority sets (an aged set is never changed and a new
// second builds new ones, so identity means same records, same TTLs),
// the rcode and AA bit, the question exactly as spelled (a client
// randomising the case of its names, draft-vixie-dnsext-dns0x20, gets
// the answer records spelled its way: a copy per hit, packed as before),
// and whether an OPT is sent. A reply too large for the client's UDP
// size (truncated), a query with anything else (an EDNS option such as
// Client Subnet or a cookie, a second OPT, TSIG, two questions, no RD)
// or a Server with Hooks takes the path of every other reply.
//
// Memory is bounded, apart from Config.MaxBytes: wireSlots slots per
// Server, each holding at most two replies of at most wireMaxLen bytes
// (and keeping alive the shared sets they were packed from): 2.5 MB at
// most, a few KB for a typical working set.

const (
	wireBits   = 10
	wireSlots  = 1 << wireBits
	wireMaxLen = 1232 // the EDNS size most clients ask for (DNS Flag Day 2020)
)

// wireTable is a Server's packed replies: a direct-mapped table indexed
// by the identity of a reply's first shared record set. It is safe for
// concurrent use: each slot holds an immutable wireMemo swapped whole.
type wireTable struct {
	rec   *Recursive
	slots [wireSlots]wireSlot
	bufs  sync.Pool // *[]byte for ServeDNS's packed replies
}

type wireSlot struct {
	memo atomic.Pointer[wireMemo]
	// seen is the set identity (its address) of the last hit that found
	// another reply in the slot: a reply is packed for keeping at its
	// second sighting, so that answers built afresh on every hit (CNAME
	// chains, negative answers) do not replace the slot's reply each time.
	seen atomic.Uintptr
}

// wireMemo is one reply packed, with what it was packed from. It is
// never changed once stored.
type wireMemo struct {
	an, ns []dns.RR // the shared sets (kept alive: their addresses are the key)
	rcode  int
	aa     bool
	qname  string
	qtype  uint16
	qclass uint16
	// packed[0] is the reply to a query without EDNS, packed[1] with (its
	// OPT last, without options); nil when not packed yet.
	packed [2][]byte
	// fit[i] is the smaller of packed[i]'s uncompressed and compressed
	// lengths: dnsproto.Truncate leaves a reply whole when either fits.
	fit [2]int
}

// newWireTable returns the packed reply table for a Server of r, or nil
// when its replies are not kept packed.
func newWireTable(cfg ServerConfig) *wireTable {
	rec, ok := cfg.Resolver.(*Recursive)
	if !ok || rec == nil || cfg.Hooks != nil || rec.ecs != nil {
		return nil
	}
	return &wireTable{rec: rec}
}

// wireResult says how far wireHit went.
type wireResult uint8

const (
	wireSkip wireResult = iota // not a query it answers: nothing done, respond answers it
	wireMiss                   // the cache was asked and has no answer: resolve (resolveOnly)
	wireDone                   // answered, packed now (a nil reply: it could not be packed, none is sent)
	wireKept                   // answered from a kept packed reply
)

// wireQuery reports whether req is a query wireHit answers: a recursive
// query (RD) of one question that respond would answer from the cache
// (dnsproto.VetQuery passes it), with no record beyond an OPT of version
// 0 carrying no option.
func wireQuery(req *dns.Msg) bool {
	if !req.RecursionDesired || len(req.Question) != 1 || len(req.Extra) > 1 {
		return false
	}
	if len(req.Extra) == 1 {
		opt, ok := req.Extra[0].(*dns.OPT)
		if !ok || len(opt.Option) != 0 {
			return false
		}
	}
	return dnsproto.VetQuery(req) == dns.RcodeSuccess
}

// truncates reports whether a reply from local to remote goes over UDP
// and is truncated to the client's size (finishEcho).
func truncates(remote, local net.Addr) bool {
	if _, udp := local.(*net.UDPAddr); !udp && local != nil {
		return false
	}
	if remote == nil {
		return false
	}
	_, tcp := remote.(*net.TCPAddr)
	return !tcp
}

// wireHit answers req, from remote, from the cache as respond does,
// packed into buf (grown if it must be). It counts and does nothing when
// it reports wireSkip, so the caller answers as before; with wireMiss it
// has found that the cache cannot answer, and the caller resolves
// (respond with resolveOnly).
func (s *Server) wireHit(remote, local net.Addr, req *dns.Msg, buf []byte) ([]byte, wireResult) {
	t := s.wire
	if t == nil || !wireQuery(req) || !s.allowed(remote) {
		return nil, wireSkip
	}
	q := req.Question[0]
	// From here on as respondPlain's cache hit.
	m := dnsproto.Reply(req)
	m.RecursionAvailable = true
	if !t.rec.cachedInto(m, q, nil) {
		return nil, wireMiss
	}
	m.Answer = spellAsAsked(m.Answer, q.Name)
	t.rec.addDNSSECRecordsTo(m, req, true) // AD, RRSIG, NSEC, NSEC3 (validate.go, dnssechit.go)
	opt := req.IsEdns0()
	v, size := 0, dns.MinMsgSize
	if opt != nil {
		v, size = 1, max(int(opt.UDPSize()), dns.MinMsgSize)
	}
	udp := truncates(remote, local)
	slot, key := t.slot(m)
	var cur *wireMemo
	if slot != nil {
		cur = slot.memo.Load()
		if cur != nil && !cur.matches(m, q) {
			cur = nil
		}
		if cur != nil && cur.packed[v] != nil && (!udp || cur.fit[v] <= size) {
			b := append(buf[:0], cur.packed[v]...)
			patchWire(b, req, m.AuthenticatedData, opt)
			return b, wireKept
		}
	}
	m = s.finishEcho(m, req, remote, local, nil, nil)
	b, err := m.PackBuffer(buf)
	if err != nil {
		return nil, wireDone
	}
	if slot != nil && !m.Truncated && len(b) <= wireMaxLen && m.Rcode <= 0xf && len(m.Extra) == v && (v == 0 || optLast(b)) {
		switch {
		case cur != nil: // the other variant, or the same packed again
			t.keep(slot, cur, m, b, v)
		case slot.seen.Load() == key:
			t.keep(slot, &wireMemo{an: m.Answer, ns: m.Ns, rcode: m.Rcode, aa: m.Authoritative, qname: q.Name, qtype: q.Qtype, qclass: q.Qclass}, m, b, v)
		default:
			slot.seen.Store(key)
		}
	}
	return b, wireDone
}

// slot returns the slot of m's reply, by the address of its first shared
// set, and that address; nil when m has no records.
func (t *wireTable) slot(m *dns.Msg) (*wireSlot, uintptr) {
	var p *dns.RR
	switch {
	case len(m.Answer) > 0:
		p = &m.Answer[0]
	case len(m.Ns) > 0:
		p = &m.Ns[0]
	default:
		return nil, 0
	}
	a := uintptr(unsafe.Pointer(p))
	return &t.slots[(uint64(a)*0x9e3779b97f4a7c15)>>(64-wireBits)], a
}

// matches reports whether w was packed from m's sections and header, for
// the question q.
func (w *wireMemo) matches(m *dns.Msg, q dns.Question) bool {
	return sameSet(m.Answer, w.an) && sameSet(m.Ns, w.ns) && m.Rcode == w.rcode && m.Authoritative == w.aa &&
		q.Qtype == w.qtype && q.Qclass == w.qclass && q.Name == w.qname && len(m.Extra) == 0
}

// sameSet reports whether a and b are the same records: the same slice.
func sameSet(a, b []dns.RR) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// keep stores in slot a copy of w with packed[v] = b, the packing of m.
func (t *wireTable) keep(slot *wireSlot, w *wireMemo, m *dns.Msg, b []byte, v int) {
	n := *w
	n.packed[v] = append([]byte(nil), b...)
	m.Compress = false
	n.fit[v] = m.Len()
	m.Compress = true
	n.fit[v] = min(n.fit[v], m.Len())
	slot.memo.Store(&n)
}

// optLast reports whether the packed message b ends with an OPT record
// carrying no option (the 11 octets SetEDNS's OPT packs into).
func optLast(b []byte) bool {
	if len(b) < 12+11 {
		return false
	}
	o := b[len(b)-11:]
	return o[0] == 0 && binary.BigEndian.Uint16(o[1:]) == dns.TypeOPT && binary.BigEndian.Uint16(o[9:]) == 0
}

// patchWire writes into b, a packed reply kept for another query, what is
// req's own: its ID, CD (RFC 4035 §3.2.2: copied from the query), the AD
// bit the hit computed (ad: RFC 4035 §3.2.3, RFC 6840 §5.8), and the DO
// bit of its OPT (RFC 3225 §3), when it sent one. RD is set on every kept
// reply (only queries with RD are answered from the cache), the rest of
// the header is the reply's.
func patchWire(b []byte, req *dns.Msg, ad bool, opt *dns.OPT) {
	binary.BigEndian.PutUint16(b, req.Id)
	f := b[3] &^ 0x30 // AD, CD
	if ad {
		f |= 0x20
	}
	if req.CheckingDisabled {
		f |= 0x10
	}
	b[3] = f
	if opt != nil {
		d := b[len(b)-4] &^ 0x80 // the high octet of the OPT's flags: DO
		if opt.Do() {
			d |= 0x80
		}
		b[len(b)-4] = d
	}
}

// serveWire answers req through w when wireHit takes it: a hit written
// packed (w.Write), a miss resolved and written as ServeDNS writes every
// reply. It reports false, having done nothing, otherwise.
func (s *Server) serveWire(w dns.ResponseWriter, req *dns.Msg) bool {
	remote, local := w.RemoteAddr(), w.LocalAddr()
	bp, _ := s.wire.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	b, res := s.wireHit(remote, local, req, (*bp)[:0])
	switch res {
	case wireSkip:
		s.wire.bufs.Put(bp)
		return false
	case wireMiss:
		s.wire.bufs.Put(bp)
		m, _ := s.respond(remote, local, req, resolveOnly)
		w.WriteMsg(m)
		return true
	}
	if b != nil {
		w.Write(b)
		if cap(b) <= 4096 {
			*bp = b
		}
	}
	s.wire.bufs.Put(bp)
	return true
}
