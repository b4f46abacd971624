package resolver

import (
	"encoding/binary"
	"hash/maphash"
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
// sections are sets shared by the hits of that second (aged), its
// question is the client's, its OPT ours, its DNSSEC records (DO) those
// of the question's DNSSEC entry for a second of that entry's age
// (joinAnswer). Packing it again on every hit cost most of a validated
// hit with DO (the RRSIGs' base64 signatures decoded, names compressed
// through a map). As Unbound and Knot keep packed replies, the Server
// keeps the reply packed once, with what it was packed from, and gives
// later hits a copy with their own ID, CD, AD and DO bits written in
// (patchWire).
//
// The key is what the bytes are made of: the identity of the hit's
// shared answer and authority sets before the DNSSEC records (an aged
// set is never changed and a new second builds new ones, so identity
// means same records, same TTLs), the rcode and AA bit, the question
// exactly as spelled. A reply whose sections are built per hit (a CNAME
// chain joins its links' aged sets into a new slice; a negative answer
// copies its SOA, aged, for each hit: builtPerHit) is keyed on the
// question's name and type instead, and matched record by record: the
// same aged records, a SOA equal in every field (sameRecords); it is
// packed for keeping at its second sighting within a second (the key
// seen mixes the records' identities), so one made of records copied
// for each hit is never kept. The question is matched exactly as
// spelled (a client randomising the case of its names,
// draft-vixie-dnsext-dns0x20, gets the answer records spelled its way:
// a copy per hit, packed as before), what the query asks of DNSSEC
// (nothing, AD, or DO) and whether it has an OPT. A reply with DNSSEC
// records or AD also depends on the question's DNSSEC entry: it notes
// the entry and the second of its age, and is served only while that
// entry is in the cache (an entry that leaves it, replaced, evicted or
// flushed, is marked gone: Recursive.evicted) and in that second; the
// clock is read for that when the reply is built per hit or the
// answer's set may outlive the entry's second (dnssecCovers), so a
// validated hit costs no DNSSEC lookup. A reply too large for the
// client's UDP size (truncated), a query with anything else (an EDNS
// option the reply depends on, such as Client Subnet or Padding:
// wireIgnored; a second OPT, TSIG, two questions, no RD) or a Server
// with the QueryReceived or QueryAnswered hook, or ECS, takes the path
// of every other reply.
//
// Memory is bounded apart from Config.MaxBytes: each Server keeps at
// most wireBudget(MaxBytes) (a thirty-second of it, at least 64 KiB) in
// kept replies, counting their packed octets, the records they keep
// alive and their overhead, in wireSlots slots of up to six replies of
// at most wireMaxLen octets each.

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
	bytes atomic.Int64 // packed octets kept (wireMemo.size), at most max
	max   int64
	bufs  sync.Pool // *[]byte for ServeDNS's packed replies
	seed  maphash.Seed
}

type wireSlot struct {
	memo atomic.Pointer[wireMemo]
	// seen is the set identity (its address; builtSlot's key for a reply
	// built per hit) of the last hit that found another reply in the
	// slot: a reply is packed for keeping at its second sighting, so that
	// answers copied afresh on every hit (names spelled as asked) do not
	// replace the slot's reply each time.
	seen atomic.Uintptr
}

// wireMemo is a question's replies packed, with what they were packed
// from: the cache hit's sections before its DNSSEC records. It is never
// changed once stored.
type wireMemo struct {
	an, ns []dns.RR // the shared sets (kept alive: their addresses are the key)
	rcode  int
	aa     bool
	qname  string
	qtype  uint16
	qclass uint16
	built  bool // an, ns built per hit (builtPerHit): matched record by record
	// packed[mode][v] is the reply to a query asking for DNSSEC as mode
	// says (wireMode), without EDNS (v 0) or with (v 1: its OPT last,
	// without options); nil when not packed yet.
	packed [3][2]*wirePacked
	cost   int64 // what it counts in wireTable.bytes
}

// wirePacked is one packed reply.
type wirePacked struct {
	b []byte
	// fit is the smaller of b's uncompressed and compressed lengths:
	// dnsproto.Truncate leaves a reply whole when either fits.
	fit int
	ad  bool
	// dnssec is the DNSSEC entry the reply's AD bit and DNSSEC records
	// come from (addDNSSECRecordsTo), in the second sec of its age; nil
	// when the reply asks none (a query without DO or AD, or a resolver
	// that does not validate). The reply is served while that entry is
	// in the cache, fresh, and in that second: with clock, the clock is
	// read to check it; without, that holds for as long as the answer's
	// shared set (the key) is answered (dnssecCovers).
	dnssec *entry
	sec    int64
	clock  bool
}

// setCost sets w.cost: its packed replies, the records it keeps alive
// (as the cache counts them: rcache.go's putEntry) and its overhead.
func (w *wireMemo) setCost() {
	n := int64(unsafe.Sizeof(*w)) + int64(len(w.qname))
	for _, rr := range w.an {
		n += int64(dns.Len(rr)) + 48
	}
	for _, rr := range w.ns {
		n += int64(dns.Len(rr)) + 48
	}
	for _, vs := range w.packed {
		for _, p := range vs {
			if p != nil {
				n += int64(unsafe.Sizeof(*p)) + int64(cap(p.b))
			}
		}
	}
	w.cost = n
}

// newWireTable returns the packed reply table for a Server of r, or nil
// when its replies are not kept packed.
func newWireTable(cfg ServerConfig) *wireTable {
	rec, ok := cfg.Resolver.(*Recursive)
	if !ok || rec == nil || rec.ecs != nil {
		return nil
	}
	if h := cfg.Hooks; h != nil && (h.QueryReceived != nil || h.QueryAnswered != nil) {
		// respondTraced's events; the cache's and the resolutions' are
		// given on this path as on respond's.
		return nil
	}
	return &wireTable{rec: rec, max: wireBudget(rec.cfg.MaxBytes), seed: maphash.MakeSeed()}
}

// wireBudget is the octets of packed replies a Server keeps for a
// Recursive of maxBytes: a thirty-second of it, at least 64 KiB.
func wireBudget(maxBytes int64) int64 { return max(maxBytes/32, 64<<10) }

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
// 0 carrying no option but those its reply ignores (wireIgnored).
func wireQuery(req *dns.Msg) bool {
	if !req.RecursionDesired || len(req.Question) != 1 || len(req.Extra) > 1 {
		return false
	}
	if len(req.Extra) == 1 {
		opt, ok := req.Extra[0].(*dns.OPT)
		if !ok || !wireIgnored(opt.Option) {
			return false
		}
	}
	return dnsproto.VetQuery(req) == dns.RcodeSuccess
}

// wireIgnored reports whether the reply to a query is the same with and
// without the EDNS options opts: each is a COOKIE (RFC 7873: the Server
// implements no server cookies, so, as §5.2.1 allows a server that does
// not, it answers as if the option were absent and sends none back) or
// an option of a code miekg/dns does not know (RFC 6891 §6.1.2: unknown
// options are ignored). The others (Client Subnet, Padding, NSID,
// Expire, TCP keepalive, the DNSSEC algorithm lists and any code a later
// change may read) take the path of every other reply.
func wireIgnored(opts []dns.EDNS0) bool {
	for _, o := range opts {
		switch o.(type) {
		case *dns.EDNS0_COOKIE, *dns.EDNS0_LOCAL:
			// An EDNS0_LOCAL built in process may carry any code: those
			// the Server reads (pad reads the code alone) are not ignored.
			if c := o.Option(); c == dns.EDNS0SUBNET || c == dns.EDNS0PADDING || c == dns.EDNS0NSID {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// wireMode is what req asks of DNSSEC (addDNSSECRecordsTo): 0 nothing, 1
// the AD bit (AD set, RFC 6840 §5.7), 2 AD and the DNSSEC records (DO,
// RFC 4035 §3.2.1).
func wireMode(req *dns.Msg, opt *dns.OPT) int {
	switch {
	case opt != nil && opt.Do():
		return 2
	case req.AuthenticatedData:
		return 1
	}
	return 0
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
	rec := t.rec
	// From here on as respondPlain's cache hit.
	m := dnsproto.Reply(req)
	m.RecursionAvailable = true
	if !rec.cachedInto(m, q, nil) {
		return nil, wireMiss
	}
	m.Answer = spellAsAsked(m.Answer, q.Name)
	built := builtPerHit(m, q)
	opt := req.IsEdns0()
	v, size := 0, dns.MinMsgSize
	if opt != nil {
		v, size = 1, max(int(opt.UDPSize()), dns.MinMsgSize)
	}
	mode := wireMode(req, opt)
	udp := truncates(remote, local)
	var slot *wireSlot
	var key uintptr
	if built {
		slot, key = t.builtSlot(m, q)
	} else {
		slot, key = t.slot(m)
	}
	var cur *wireMemo
	keep := false // pack this reply for keeping
	if slot != nil {
		cur = slot.memo.Load()
		if cur != nil && !cur.matches(m, q, built) {
			cur = nil
		}
		switch {
		case cur != nil:
			if p := cur.packed[mode][v]; p != nil && (!udp || p.fit <= size) && p.current(rec) {
				b := append(buf[:0], p.b...)
				patchWire(b, req, p.ad, opt)
				return b, wireKept
			}
			keep = true
		case slot.seen.Load() == key:
			// Seen twice: kept if it is an answer entry's shared set
			// (an address seen again may be a fresh slice's, reused).
			keep = true
		default:
			slot.seen.Store(key)
		}
	}
	an, ns := m.Answer, m.Ns
	var e *entry
	var aged *agedSet
	if keep && !built {
		e, aged = rec.answerEntry(q, an)
		keep = e != nil
	}
	// The DNSSEC entry the reply is made from, looked up before and after
	// addDNSSECRecordsTo: the same, in the same second of its age, it is
	// the one addDNSSECRecordsTo found.
	var d *entry
	var sec int64
	asks := mode > 0 && rec.val != nil
	if keep && asks {
		d, sec = rec.peekDNSSEC(q.Name, q.Qtype)
		keep = d != nil
	}
	rec.addDNSSECRecordsTo(m, req, true) // AD, RRSIG, NSEC, NSEC3 (validate.go, dnssechit.go)
	clock := false
	if keep && asks {
		d2, sec2 := rec.peekDNSSEC(q.Name, q.Qtype)
		keep = d2 == d && sec2 == sec
		// A reply built per hit has no aged set of its own to last as
		// long as: the clock is read on every hit it serves.
		clock = built || !dnssecCovers(e, aged, d, sec)
	}
	m = s.finishEcho(m, req, remote, local, nil, nil)
	b, err := m.PackBuffer(buf)
	if err != nil {
		return nil, wireDone
	}
	if keep && !m.Truncated && len(b) <= wireMaxLen && m.Rcode <= 0xf && len(m.Extra) == v && (v == 0 || optLast(b)) && t.bytes.Load()+int64(len(b)) <= t.max {
		n := wireMemo{an: an, ns: ns, rcode: m.Rcode, aa: m.Authoritative, qname: q.Name, qtype: q.Qtype, qclass: q.Qclass, built: built}
		if cur != nil {
			n = *cur
		}
		p := &wirePacked{b: append([]byte(nil), b...), ad: m.AuthenticatedData, dnssec: d, sec: sec, clock: clock}
		m.Compress = false
		p.fit = m.Len()
		m.Compress = true
		p.fit = min(p.fit, m.Len())
		n.packed[mode][v] = p
		n.setCost()
		var was int64
		if old := slot.memo.Swap(&n); old != nil {
			was = old.cost
		}
		t.bytes.Add(n.cost - was)
	}
	return b, wireDone
}

// answerEntry returns q's answer entry and its aged set when an is that
// set (shared by the hits of a second), or nil: local data and a set
// spelled as a client asked (built afresh for each hit) are not kept
// this way (CNAME chains and negative answers are: builtSlot).
func (r *Recursive) answerEntry(q dns.Question, an []dns.RR) (*entry, *agedSet) {
	if len(an) == 0 {
		return nil, nil
	}
	b := r.getKeyBuf()
	e, ok := r.cache.Peek(lookupKey(b, lower(q.Name), q.Qtype, ""))
	r.putKeyBuf(b)
	if !ok {
		return nil, nil
	}
	if a := e.agedRRs.Load(); a != nil && sameSet(a.rrs, an) {
		return e, a
	}
	return nil, nil
}

// current reports whether p may be served now: it asks no DNSSEC entry,
// or its entry is still cached (not replaced, evicted or expired) and in
// the second of its age p was packed in.
func (p *wirePacked) current(r *Recursive) bool {
	d := p.dnssec
	if d == nil {
		return true
	}
	if d.gone.Load() {
		return false
	}
	if !p.clock {
		return true
	}
	now := r.now()
	return d.fresh(now) && d.ageSec(now) == p.sec
}

// slot returns the slot of m's reply, by the address of its answer set,
// and that address; nil when m has no answer (builtSlot's).
func (t *wireTable) slot(m *dns.Msg) (*wireSlot, uintptr) {
	if len(m.Answer) == 0 {
		return nil, 0
	}
	a := uintptr(unsafe.Pointer(&m.Answer[0]))
	return &t.slots[(uint64(a)*0x9e3779b97f4a7c15)>>(64-wireBits)], a
}

// matches reports whether w was packed from m's sections and header, for
// the question q: the same shared sets, or for a reply built per hit
// (built) the same records (sameRecords).
func (w *wireMemo) matches(m *dns.Msg, q dns.Question, built bool) bool {
	if w.built != built || m.Rcode != w.rcode || m.Authoritative != w.aa || q.Qtype != w.qtype || q.Qclass != w.qclass || q.Name != w.qname || len(m.Extra) != 0 {
		return false
	}
	if built {
		return sameRecords(m.Answer, w.an) && sameRecords(m.Ns, w.ns)
	}
	return sameSet(m.Answer, w.an) && sameSet(m.Ns, w.ns)
}

// builtPerHit reports whether m, a cache hit's reply to q, has sections
// built afresh on each hit from records shared by the hits of a second: a
// negative answer (its SOA a copy aged for the hit) or an answer that
// is not q's own set (a CNAME chain: the aged sets of its links joined
// into a new slice). Their packed replies are keyed on q's name and type
// and matched record by record (sameRecords).
func builtPerHit(m *dns.Msg, q dns.Question) bool {
	return len(m.Answer) == 0 || m.Answer[0].Header().Rrtype != q.Qtype
}

// sameRecords reports whether a and b hold the same records: each the
// same record (an aged set's, never changed: the same record, the same
// TTL), or SOA records equal in every field (a negative answer's SOA,
// copied for each hit with its TTL aged).
func sameRecords(a, b []dns.RR) bool {
	if len(a) != len(b) {
		return false
	}
	for i, rr := range a {
		if rr == b[i] {
			continue
		}
		x, ok1 := rr.(*dns.SOA)
		y, ok2 := b[i].(*dns.SOA)
		if !ok1 || !ok2 || *x != *y {
			return false
		}
	}
	return true
}

// builtSlot returns the slot of m's reply when it is built per hit
// (builtPerHit): by q's name as spelled and type, so that the reply of a
// new second replaces the last one's, and the key that is the same for
// the hits of a second only: q's slot index mixed with each record's
// identity (a SOA's TTL and serial: it is a copy), so a reply made of
// records copied for each hit (a DNAME's synthesised CNAME, names spelled
// as asked) is never seen twice, never kept.
func (t *wireTable) builtSlot(m *dns.Msg, q dns.Question) (*wireSlot, uintptr) {
	h := maphash.String(t.seed, q.Name) ^ uint64(q.Qtype)*0x9e3779b97f4a7c15
	i := h >> (64 - wireBits)
	for _, sec := range [2][]dns.RR{m.Answer, m.Ns} {
		for _, rr := range sec {
			x := uint64(uintptr(unsafe.Pointer(rr.Header())))
			if soa, ok := rr.(*dns.SOA); ok {
				x = uint64(soa.Hdr.Ttl)<<32 | uint64(soa.Serial)
			}
			h = (h ^ x) * 0x100000001b3
		}
	}
	return &t.slots[i], uintptr(h) | 1
}

// sameSet reports whether a and b are the same records: the same slice.
func sameSet(a, b []dns.RR) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
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
