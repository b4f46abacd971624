package resolver

import (
	"context"
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// ServerConfig configures a Server.
type ServerConfig struct {
	// Resolver answers the questions. Required.
	Resolver Resolver
	// Allow lists the client networks served. Nil means loopback only,
	// so the server is never an open resolver by accident.
	Allow []netip.Prefix
	// Timeout bounds one question. Zero means 10 s.
	Timeout time.Duration
	// refused, if set, counts refusals (the Recursive's stats).
	refused func()
}

// Server is a dns.Handler that serves a Resolver to clients over UDP and
// TCP, like a local caching resolver. It is safe for concurrent use.
type Server struct {
	cfg ServerConfig
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
	return &Server{cfg: cfg}, nil
}

func (s *Server) allowed(addr net.Addr) bool {
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

// ServeDNS implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	w.WriteMsg(s.answer(w.RemoteAddr(), w.LocalAddr(), req))
}

func (s *Server) answer(remote, local net.Addr, req *dns.Msg) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = true
	if !s.allowed(remote) {
		if s.cfg.refused != nil {
			s.cfg.refused()
		}
		m.Rcode = dns.RcodeRefused
		return m
	}
	if req.Opcode != dns.OpcodeQuery || len(req.Question) != 1 || req.Response {
		m.Rcode = dns.RcodeFormatError
		return m
	}
	opt := req.IsEdns0()
	if opt != nil && opt.Version() != 0 {
		m.Rcode = dns.RcodeBadVers
		m.SetEdns0(1232, false)
		return m
	}
	// A cache hit needs no deadline; only a question that must wait for
	// a resolution gets one (building a timer per query cost a quarter of
	// a hit's allocations).
	var res *dns.Msg
	var err error
	if rec, ok := s.cfg.Resolver.(*Recursive); ok {
		res = rec.cached(req.Question[0])
	}
	if res == nil {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
		res, err = s.cfg.Resolver.Resolve(ctx, req.Question[0])
		cancel()
	}
	if err != nil || res == nil {
		m.Rcode = dns.RcodeServerFailure
	} else {
		m.Rcode = res.Rcode
		m.Answer, m.Ns = res.Answer, res.Ns
	}
	size := dns.MinMsgSize
	if opt != nil {
		size = int(max(opt.UDPSize(), dns.MinMsgSize))
		m.SetEdns0(1232, false)
	}
	if _, udp := local.(*net.UDPAddr); udp || local == nil {
		if remote != nil {
			if _, isTCP := remote.(*net.TCPAddr); !isTCP {
				m.Truncate(size)
			}
		}
	}
	return m
}
