package resolver

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgekit/edgekit/internal/dnsproto"
	"github.com/edgekit/edgekit/internal/serve"
	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// ServerConfig configures a Server.
// A plain value: set it up before use and do not change it while in use.
type ServerConfig struct {
	// Resolver answers the questions. Required.
	Resolver Resolver
	// Allow lists the client networks served. Nil means loopback only,
	// so the server is never an open resolver by accident.
	Allow []netip.Prefix
	// Timeout bounds one question. Zero means 10 s.
	Timeout time.Duration
	// Hooks, if set, are called at query events (see Hooks). Nil means
	// the Resolver's, when it is a *Recursive with Hooks; else none.
	Hooks *Hooks
	// refused, if set, counts refusals (the Recursive's stats).
	refused func()
	// inProcess allows every client: NetResolver's pipe, whose peer is
	// this process.
	inProcess bool
}

// Server is a dns.Handler that serves a Resolver to clients over UDP and
// TCP, like a local caching resolver. It is safe for concurrent use.
type Server struct {
	cfg  ServerConfig
	wire *wireTable // cache hits' packed replies (wirehit.go); nil: none kept
}

// NewServer returns a Server for cfg.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Resolver == nil {
		return nil, ErrInvalidConfig
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if rec, ok := cfg.Resolver.(*Recursive); ok && cfg.refused == nil {
		cfg.refused = func() { rec.st.refused.Add(1) }
	}
	if rec, ok := cfg.Resolver.(*Recursive); ok && cfg.Hooks == nil {
		cfg.Hooks = rec.cfg.Hooks
	}
	return &Server{cfg: cfg, wire: newWireTable(cfg)}, nil
}

func (s *Server) allowed(addr net.Addr) bool {
	if s.cfg.inProcess {
		return true
	}
	var ip netip.Addr
	switch a := addr.(type) {
	case *net.UDPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		if ap, err := netip.ParseAddrPort(addr.String()); err == nil {
			ip = ap.Addr()
		}
	}
	ip = ip.Unmap()
	if !ip.IsValid() {
		return false
	}
	if s.cfg.Allow == nil {
		return ip.IsLoopback()
	}
	for _, p := range s.cfg.Allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// ServeDNS implements dns.Handler. A cache hit's reply may be written
// packed, with w.Write (wirehit.go): a ResponseWriter wrapping another
// must handle Write as it handles WriteMsg.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	if s.wire != nil && s.serveWire(w, req) {
		return
	}
	w.WriteMsg(s.answer(w.RemoteAddr(), w.LocalAddr(), req))
}

func (s *Server) answer(remote, local net.Addr, req *dns.Msg) *dns.Msg {
	m, _ := s.respond(remote, local, req, cacheThenResolve)
	return m
}

// respondMode says how far respond may go for an answer.
type respondMode uint8

const (
	cacheOnly        respondMode = iota // local data and the cache, or no reply
	cacheThenResolve                    // the cache first (no deadline for a hit), then a resolution
	resolveOnly                         // straight to a resolution: the cache was just found without it
)

// respond builds the reply to req. With mode cacheOnly it reports ok ==
// false, and no reply, for a question the cache cannot answer at once.
//
// Every reply carries the query's ID, opcode, RD and CD, its question, and
// an OPT when the query had one (dnsproto.Reply, dnsproto.SetEDNS). RA is
// set as Unbound sets it: on answers and on the refusals and errors that
// come after looking at the question's class; not to a client that is not
// allowed, nor on NOTIMP, FORMERR or a refused zone transfer, which
// Unbound answers with the query's own header.
func (s *Server) respond(remote, local net.Addr, req *dns.Msg, mode respondMode) (reply *dns.Msg, ok bool) {
	if s.cfg.Hooks != nil {
		return s.respondTraced(remote, local, req, mode)
	}
	return s.respondPlain(remote, local, req, mode)
}

func (s *Server) respondPlain(remote, local net.Addr, req *dns.Msg, mode respondMode) (reply *dns.Msg, ok bool) {
	m := dnsproto.Reply(req)
	if !s.allowed(remote) {
		if s.cfg.refused != nil {
			s.cfg.refused()
		}
		m.Rcode = dns.RcodeRefused
		return s.finish(m, req, remote, local), true
	}
	if rcode := dnsproto.VetQuery(req); rcode != dns.RcodeSuccess {
		m.Rcode = rcode
		switch rcode {
		case dns.RcodeBadVers:
			m.RecursionAvailable = true
		case dns.RcodeRefused: // VetQuery saw one question
			t := req.Question[0].Qtype
			m.RecursionAvailable = t != dns.TypeAXFR && t != dns.TypeIXFR
		}
		return s.finish(m, req, remote, local), true
	}
	m.RecursionAvailable = true
	rec, _ := s.cfg.Resolver.(*Recursive)
	ecs, echo, rcode := rec.clientSubnet(remote, req) // RFC 7871, when Config.ECS is on
	if rcode != dns.RcodeSuccess {
		m.Rcode = rcode
		return s.finish(m, req, remote, local), true
	}
	// A cache hit needs no deadline; only a question that must wait for
	// a resolution gets one (building a timer per query cost a quarter of
	// a hit's allocations).
	var res *dns.Msg
	var err error
	unvalidated := false // res is CD data resolved without validation: no AD, no records of the cache's
	if !req.RecursionDesired {
		// RFC 1034 §4.3.1: without RD a server answers from what it holds
		// and does not recurse. As Unbound's default, only local data
		// (hosts, special-use names) is given; the cache is not open to
		// snooping, and the rest is refused.
		if rec != nil {
			res = rec.localAnswer(req.Question[0])
		}
		if res == nil {
			m.Rcode = dns.RcodeRefused
			return s.finish(m, req, remote, local), true
		}
	} else if rec != nil && mode != resolveOnly && rec.cachedInto(m, req.Question[0], ecs) {
		// Answered into m itself (no message built and copied per hit).
		m.Answer = spellAsAsked(m.Answer, req.Question[0].Name)
		rec.addDNSSECRecordsFor(m, req, true, ecs) // AD, RRSIG, NSEC, NSEC3 (validate.go, dnssechit.go; per scope, ecs_dnssec.go)
		return s.finishEcho(m, req, remote, local, echo, ecs), true
	}
	if res == nil {
		if mode == cacheOnly {
			return nil, false
		}
		ctx := context.Background()
		// A Recursive bounds its resolutions by its ResolveTimeout: a
		// timer of the server's is made only if Timeout is shorter (a
		// timer per miss cost 2% of its CPU time).
		if rec == nil || s.cfg.Timeout < rec.cfg.ResolveTimeout {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, s.cfg.Timeout)
			defer cancel()
		}
		if req.CheckingDisabled {
			ctx = withCD(ctx) // no RFC 8198 synthesis for CD (aggressive.go)
		}
		if rec != nil && (mode == resolveOnly || ecs != nil) {
			// cachedInto just found no answer in local data or the
			// cache: Resolve would look again.
			q := req.Question[0]
			q.Name = lower(q.Name)
			if q.Qclass == 0 {
				q.Qclass = dns.ClassINET
			}
			rec.st.queries.Add(1)
			if rec.resolveHooked() {
				res, err = rec.resolveTraced(ctx, q, func(ctx context.Context, q dns.Question) (*dns.Msg, error) { return rec.resolveMiss(ctx, q, ecs) })
			} else {
				res, err = rec.resolveMiss(ctx, q, ecs)
			}
		} else {
			res, err = s.cfg.Resolver.Resolve(ctx, req.Question[0])
		}
		if rec != nil && req.CheckingDisabled && err == nil {
			cd := rec.checkingDisabled(ctx, req, res, ecs) // RFC 4035 §3.2.2
			unvalidated, res = cd != res, cd
		}
	}
	if err != nil || res == nil {
		m.Rcode = dns.RcodeServerFailure
	} else {
		m.Rcode = res.Rcode
		m.Answer, m.Ns = spellAsAsked(res.Answer, req.Question[0].Name), res.Ns
		m.Authoritative = res.Authoritative // local zones only
		if rec != nil && !unvalidated {
			rec.addDNSSECRecordsFor(m, req, false, ecs) // AD, RRSIG, NSEC, NSEC3 (validate.go; per scope, ecs_dnssec.go)
		}
	}
	m = s.finishEcho(m, req, remote, local, echo, ecs)
	dnssecReply(m, req, res) // AD, Extended DNS Error (validate.go)
	return m, true
}

// finish sizes the reply m to req for its transport: the OPT when req had
// one (RFC 6891 §7), truncation to the client's UDP size without partial
// RRsets (dnsproto.Truncate), compression.
func (s *Server) finish(m, req *dns.Msg, remote, local net.Addr) *dns.Msg {
	return s.finishEcho(m, req, remote, local, nil, nil)
}

// finishEcho is finish for an answer to a client that sent the Client
// Subnet option echo (nil if none): the OPT carries it back with the
// scope the answer holds for (RFC 7871 §7.2.1).
func (s *Server) finishEcho(m, req *dns.Msg, remote, local net.Addr, echo *dns.EDNS0_SUBNET, c *ecsClient) *dns.Msg {
	size := dnsproto.SetEDNS(m, req)
	if echo != nil && c != nil {
		dnsproto.EchoSubnet(m, echo, int(c.scope))
	}
	// Names are compressed (RFC 1035 §4.1.4), as every server does: a
	// single A answer is 47 bytes, not 60.
	m.Compress = true
	if truncates(remote, local) {
		dnsproto.Truncate(m, size)
	}
	return m
}

// formErr is the reply to msg, a query at least a header long that did
// not parse into req: FORMERR, with the ID, opcode, RD and CD of msg's
// header (RFC 1035 §4.1.1; Unbound copies the header too), the questions
// read before the error, and an OPT if one was read (RFC 6891 §7). Its
// size is bounded as any reply's.
func (s *Server) formErr(msg []byte, req *dns.Msg, remote, local net.Addr) *dns.Msg {
	h := dnsproto.FormErrQuery(msg, req)
	m := dnsproto.Reply(h)
	m.Rcode = dns.RcodeFormatError
	return s.finish(m, h, remote, local)
}

// ServeUDP answers DNS queries arriving on pc until ctx is done, then
// returns nil once every reply in progress has been sent; it returns the
// error if reading from pc fails for another reason. It does not close pc.
//
// It is the lean way to serve UDP, instead of a dns.Server over pc: one
// read loop per GOMAXPROCS shares the socket and answers what the cache
// holds inline, with its buffers reused, so a cache hit costs no goroutine
// and no allocation beyond the messages (on Linux, a UDP socket's loops
// read and write up to 32 datagrams per system call: recvmmsg, sendmmsg);
// a question that needs resolving goes to a goroutine of its own (taken
// from those that finished one and wait for the next, up to 256, or
// started), so a slow upstream never stalls the loops.
// Packets shorter than a header and responses (QR set) are dropped, never
// answered (no reflection loops); a query that does not parse gets
// FORMERR. Replies are sent with WriteTo, from the socket's address: bind
// pc to a specific address, not a wildcard, on a host with several.
// ServeUDP calls the Server directly: to put a dns.Handler middleware in
// front (firewall.DNSGuard, for one), serve with a dns.Server instead.
func (s *Server) ServeUDP(ctx context.Context, pc net.PacketConn) error {
	return serve.ReadLoops(ctx, pc, runtime.GOMAXPROCS(0), func(ctx context.Context, wg *sync.WaitGroup) func() error {
		pool := &resolvers{ctx: ctx, wg: wg, jobs: make(chan resolveJob)}
		return func() error {
			if bc := batchConnFor(pc); bc != nil {
				return s.udpBatchLoop(ctx, pc, bc, pool)
			}
			return s.udpLoop(ctx, pc, pool)
		}
	})
}

// udpLoop reads and answers queries one datagram at a time until ctx ends
// or a read fails. Resolutions it hands off go to pool.
func (s *Server) udpLoop(ctx context.Context, pc net.PacketConn, pool *resolvers) error {
	buf := make([]byte, dns.MaxMsgSize)
	var out []byte
	local := pc.LocalAddr()
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if b := s.reply(buf[:n], addr, local, pc, pool, out[:0]); b != nil {
			out = b
			pc.WriteTo(b, addr)
		}
	}
}

// batchConn reads and writes several datagrams per call (x/net's ipv4 and
// ipv6 PacketConn: recvmmsg and sendmmsg on Linux, one at a time
// elsewhere).
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// batchConnFor returns a batchConn over pc if it is a UDP socket.
func batchConnFor(pc net.PacketConn) batchConn {
	uc, ok := pc.(*net.UDPConn)
	if !ok {
		return nil
	}
	if a, ok := uc.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() != nil {
		return ipv4.NewPacketConn(uc)
	}
	return ipv6.NewPacketConn(uc)
}

const (
	udpBatch = 32
	// udpQueryMax bounds a query read from a batch; a larger datagram is
	// dropped (DNS clients send such queries over TCP).
	udpQueryMax = 8 << 10
)

// udpBatchLoop is udpLoop reading and writing batches of datagrams.
func (s *Server) udpBatchLoop(ctx context.Context, pc net.PacketConn, bc batchConn, pool *resolvers) error {
	in := make([]ipv4.Message, udpBatch)
	for i := range in {
		in[i].Buffers = [][]byte{make([]byte, udpQueryMax)}
	}
	out := make([]ipv4.Message, udpBatch)
	packed := make([][]byte, udpBatch)
	local := pc.LocalAddr()
	for {
		n, err := bc.ReadBatch(in, 0)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		k := 0
		for i := range n {
			msg := in[i].Buffers[0][:in[i].N]
			if in[i].N >= udpQueryMax {
				continue // truncated by the buffer
			}
			reply := s.reply(msg, in[i].Addr, local, pc, pool, packed[k][:0])
			if reply == nil {
				continue
			}
			packed[k] = reply
			out[k].Buffers = [][]byte{reply}
			out[k].Addr = in[i].Addr
			k++
		}
		for sent := 0; sent < k; {
			m, err := bc.WriteBatch(out[sent:k], 0)
			if err != nil || m == 0 {
				break // a reply that cannot be sent is lost, as with WriteTo
			}
			sent += m
		}
	}
}

// replyTo answers one datagram: it returns the packed reply, built in buf,
// or nil when there is nothing to send now (dropped, or handed to a
// goroutine, counted in wg, that resolves and replies itself).
func (s *Server) replyTo(msg []byte, addr, local net.Addr, pc net.PacketConn, wg *sync.WaitGroup, buf []byte) []byte {
	return s.reply(msg, addr, local, pc, &resolvers{wg: wg}, buf)
}

// reply is replyTo handing resolutions to pool.
func (s *Server) reply(msg []byte, addr, local net.Addr, pc net.PacketConn, pool *resolvers, buf []byte) []byte {
	if len(msg) < 12 || msg[2]&0x80 != 0 { // no header, or a response
		return nil
	}
	req := new(dns.Msg)
	if err := dnsproto.UnpackQuery(msg, req); err != nil {
		b, err := s.formErr(msg, req, addr, local).PackBuffer(buf)
		if err != nil {
			return nil
		}
		return b
	}
	if b, res := s.wireHit(addr, local, req, buf); res != wireSkip { // a cache hit's packed reply (wirehit.go)
		if res == wireMiss {
			pool.run(resolveJob{s: s, req: req, addr: addr, local: local, pc: pc})
		}
		return b
	}
	m, ok := s.respond(addr, local, req, cacheOnly)
	if !ok {
		pool.run(resolveJob{s: s, req: req, addr: addr, local: local, pc: pc})
		return nil
	}
	b, err := m.PackBuffer(buf)
	if err != nil {
		return nil
	}
	return b
}

// resolveJob is a question that needs a resolution: the goroutine that
// takes it resolves, then replies to addr through pc.
type resolveJob struct {
	s           *Server
	req         *dns.Msg
	addr, local net.Addr
	pc          net.PacketConn
}

// do resolves and replies, packing the reply into buf; it returns buf,
// grown if it had to be, for the next job.
func (j resolveJob) do(buf []byte) []byte {
	m, _ := j.s.respond(j.addr, j.local, j.req, resolveOnly)
	b, err := m.PackBuffer(buf)
	if err != nil {
		return buf
	}
	j.pc.WriteTo(b, j.addr)
	return b
}

// idleResolvers bounds the goroutines a resolvers pool keeps waiting for
// work (a few KB of stack each).
const idleResolvers = 256

// resolvers runs the resolutions of ServeUDP's read loops, each in a
// goroutine of its own, so a slow upstream never stalls the loops nor
// another resolution. A goroutine that finishes waits for the next job
// (up to idleResolvers of them wait) instead of exiting, so a miss costs
// no goroutine start and no stack growth (the stack of a resolution grows
// to several KB: 7% of a miss's CPU time when every job had a new
// goroutine). Their number is not bounded, as it was not before: a
// resolution never waits for another to finish. Every goroutine is
// counted in wg and ends when ctx ends (once its job is done). With jobs
// nil, every job gets a new goroutine. It is safe for concurrent use.
type resolvers struct {
	ctx  context.Context
	wg   *sync.WaitGroup
	jobs chan resolveJob // unbuffered: a send succeeds only to a waiting goroutine
	idle atomic.Int32    // goroutines waiting on jobs
}

// run hands j to a waiting goroutine, or starts one.
func (p *resolvers) run(j resolveJob) {
	select {
	case p.jobs <- j:
		return
	default:
	}
	p.wg.Add(1)
	go p.work(j)
}

func (p *resolvers) work(j resolveJob) {
	defer p.wg.Done()
	var buf []byte
	for {
		buf = j.do(buf[:0])
		if p.jobs == nil || p.idle.Add(1) > idleResolvers {
			p.idle.Add(-1)
			return
		}
		select {
		case j = <-p.jobs:
			p.idle.Add(-1)
		case <-p.ctx.Done():
			p.idle.Add(-1)
			return
		}
	}
}

// spellAsAsked returns rrs with the records owned by the query name
// spelled as the client asked it (names compare without case, RFC 4343 §3;
// Unbound answers so too), so that a client matching names byte for byte,
// or one randomising their case (draft-vixie-dnsext-dns0x20), finds its own
// spelling. rrs is copied before any change; the cache keeps its own.
func spellAsAsked(rrs []dns.RR, asked string) []dns.RR {
	var out []dns.RR
	for i, rr := range rrs {
		if name := rr.Header().Name; name == asked || !strings.EqualFold(name, asked) {
			continue
		}
		if out == nil {
			out = slices.Clone(rrs)
		}
		c := dns.Copy(rr)
		c.Header().Name = asked
		out[i] = c
	}
	if out == nil {
		return rrs
	}
	return out
}
