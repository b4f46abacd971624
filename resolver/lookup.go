package resolver

import (
	"cmp"
	"context"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/edgekit/edgekit/internal/serve"
	"github.com/miekg/dns"
	"golang.org/x/net/idna"
)

// toFQDN converts a host name to its ASCII, fully qualified form (UTS #46
// via golang.org/x/net/idna), or fails with ErrBadName.
func toFQDN(host string) (string, error) {
	h := strings.TrimSuffix(host, ".")
	if h == "" {
		return "", ErrBadName
	}
	ascii, err := idna.Lookup.ToASCII(h)
	if err != nil {
		return "", &net.DNSError{Err: ErrBadName.Error() + ": " + err.Error(), Name: host}
	}
	fq := dns.Fqdn(ascii)
	if _, ok := dns.IsDomainName(fq); !ok {
		return "", &net.DNSError{Err: ErrBadName.Error(), Name: host}
	}
	return fq, nil
}

func dnsError(name string, m *dns.Msg, err error) error {
	switch {
	case err != nil:
		return &net.DNSError{Err: err.Error(), Name: name, IsTemporary: true}
	case m.Rcode == dns.RcodeNameError:
		return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	case m.Rcode != dns.RcodeSuccess:
		return &net.DNSError{Err: "server misbehaving: " + dns.RcodeToString[m.Rcode], Name: name, IsTemporary: true}
	}
	return nil
}

// lookup resolves host's records of qtype for the Lookup methods: host's
// fully qualified name and the answer, or a *net.DNSError.
func (r *Recursive) lookup(ctx context.Context, host string, qtype uint16) (string, *dns.Msg, error) {
	name, err := toFQDN(host)
	if err != nil {
		return "", nil, err
	}
	m, err := r.Resolve(ctx, dns.Question{Name: name, Qtype: qtype, Qclass: dns.ClassINET})
	if e := dnsError(host, m, err); e != nil {
		return "", nil, e
	}
	return name, m, nil
}

// LookupNetIP returns the IPv4 and IPv6 addresses of host, as
// net.Resolver.LookupNetIP does, with errors as *net.DNSError.
func (r *Recursive) LookupNetIP(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	name, err := toFQDN(host)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	var firstErr error
	for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
		m, err := r.Resolve(ctx, dns.Question{Name: name, Qtype: t, Qclass: dns.ClassINET})
		if e := dnsError(host, m, err); e != nil {
			if firstErr == nil {
				firstErr = e
			}
			continue
		}
		for _, rr := range m.Answer {
			if ap, ok := addrOf(rr, 0); ok && rr.Header().Rrtype == t {
				out = append(out, ap.Addr())
			}
		}
	}
	if len(out) == 0 {
		if firstErr != nil {
			return nil, firstErr
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return out, nil
}

// LookupCNAME returns the canonical name of host (host itself when it has
// no CNAME).
func (r *Recursive) LookupCNAME(ctx context.Context, host string) (string, error) {
	name, m, err := r.lookup(ctx, host, dns.TypeA)
	if err != nil {
		return "", err
	}
	canonical := name
	for _, rr := range m.Answer {
		if c, ok := rr.(*dns.CNAME); ok {
			canonical = c.Target
		}
	}
	return canonical, nil
}

// LookupMX returns host's mail exchangers, by preference, those of equal
// preference in random order.
func (r *Recursive) LookupMX(ctx context.Context, host string) ([]*net.MX, error) {
	_, m, err := r.lookup(ctx, host, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	var out []*net.MX
	for _, rr := range m.Answer {
		if mx, ok := rr.(*dns.MX); ok {
			out = append(out, &net.MX{Host: mx.Mx, Pref: mx.Preference})
		}
	}
	// Lower preference first, in random order among equal preferences
	// (RFC 5321 §5.1), as net.Resolver.LookupMX does: shuffled, then
	// sorted stably.
	shuffle := r.shuffle
	if shuffle == nil {
		shuffle = rand.Shuffle
	}
	shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	slices.SortStableFunc(out, func(a, b *net.MX) int { return cmp.Compare(a.Pref, b.Pref) })
	return out, nil
}

// LookupNS returns host's name servers.
func (r *Recursive) LookupNS(ctx context.Context, host string) ([]*net.NS, error) {
	_, m, err := r.lookup(ctx, host, dns.TypeNS)
	if err != nil {
		return nil, err
	}
	var out []*net.NS
	for _, rr := range m.Answer {
		if ns, ok := rr.(*dns.NS); ok {
			out = append(out, &net.NS{Host: ns.Ns})
		}
	}
	return out, nil
}

// NetResolver returns a *net.Resolver whose lookups go through r, so
// net.Dialer, http.Transport and every Go API that resolves names use this
// resolver without code changes. The Go resolver's messages travel over an
// in-memory pipe; no socket is opened. They are answered as Server answers
// a TCP client (the same reply rules: header, question, OPT with DO copied,
// RFC 6891 §7, RFC 3225 §3; FORMERR for a malformed query), except that
// the pipe's peer, this process, is always allowed. A nil r makes every
// lookup fail with ErrInvalidConfig.
func NetResolver(r Resolver) *net.Resolver {
	s, err := NewServer(ServerConfig{Resolver: r, inProcess: true})
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			if err != nil {
				return nil, err
			}
			client, server := net.Pipe()
			// A net.Pipe is not a PacketConn, so Go's resolver frames
			// messages as over TCP (RFC 1035 §4.2.2) whatever the network.
			// The connection ends when the Go resolver closes its end.
			go serve.ServeDNSConn(server, serve.DNSTCPConfig{Idle: tcpIdleTimeout, Write: tcpWriteTimeout, Conn: s.tcpConn})
			return client, nil
		},
	}
}
