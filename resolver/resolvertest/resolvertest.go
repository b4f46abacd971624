// Package resolvertest runs whole DNS hierarchies (root -> TLD -> zones)
// in-process on loopback addresses, for tests and examples of code that
// resolves names, as net/http/httptest runs HTTP servers.
//
// # Hierarchies
//
// New starts one authoritative server (resolver/authority, over UDP and
// TCP) per loopback address, all on one port, each holding the zones given
// for its address. Point a resolver at it with the root servers' addresses
// (Hierarchy.Roots) and Hierarchy.Port as the port of every name server
// learned from referrals, and let it use loopback servers:
//
//	h, err := resolvertest.New(resolvertest.Config{Zones: byAddr})
//	...
//	defer h.Close()
//	r, err := resolver.New(resolver.Config{Roots: h.Roots(), Port: h.Port, AllowLoopback: true})
//
// Addresses other than 127.0.0.1 (127.0.0.2, 127.0.0.3, ...) work on Linux
// without setup; on macOS each needs an alias on lo0.
//
// # Misbehaving servers
//
// Config.Wrap replaces the handler of any address, so that one server of
// the hierarchy can lie, drop or answer as a broken implementation does.
// CNAMEFollower, ENTBreaker and EDNSIntolerant are such servers, as
// found on the Internet, for the resolver's own tests and for
// differential comparisons with other resolvers.
//
// # Concurrency
//
// A Hierarchy's servers answer concurrently, in goroutines that Close
// stops and waits for. Close is to be called once, by the owner.
package resolvertest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/edgekit/edgekit/resolver/authority"
	"github.com/miekg/dns"
)

// ErrNoZones reports a Config without any address to serve.
var ErrNoZones = errors.New("resolvertest: no zones")

// Config describes a hierarchy. The zero value of every field but Zones is
// a documented default.
type Config struct {
	// Zones are the zones each server holds, by the server's loopback
	// address ("127.0.0.2"). At least one address is required.
	Zones map[string][]*authority.Zone
	// Port is the port every server listens on (UDP and TCP). Zero means
	// a free port, the same on every address.
	Port int
	// Rotate turns the order of several A and AAAA records in every
	// answer (authority.Config.Rotate). False answers in zone-file order.
	Rotate bool
	// Wrap, if set, returns the handler to serve at addr instead of srv,
	// the authoritative server for addr's zones: a misbehaving server
	// such as CNAMEFollower, or srv itself (also what a nil result
	// means). Nil serves every srv as it is.
	Wrap func(addr string, srv *authority.Server) dns.Handler
}

// Hierarchy is a set of authoritative servers running on loopback
// addresses, started by New.
type Hierarchy struct {
	// Port is the port every server listens on (UDP and TCP).
	Port    int
	roots   []netip.AddrPort
	servers []*dns.Server
}

// New starts a server for every address of cfg.Zones and returns once they
// all answer. With cfg.Port zero it tries up to 20 free ports before it
// gives up.
func New(cfg Config) (*Hierarchy, error) {
	handlers := map[string]dns.Handler{}
	var addrs, roots []string
	for addr, zones := range cfg.Zones {
		zs, err := authority.New(authority.Config{Zones: zones, Rotate: cfg.Rotate})
		if err != nil {
			return nil, fmt.Errorf("resolvertest: %s: %w", addr, err)
		}
		var h dns.Handler = zs
		if cfg.Wrap != nil {
			if w := cfg.Wrap(addr, zs); w != nil {
				h = w
			}
		}
		handlers[addr] = h
		addrs = append(addrs, addr)
		for _, z := range zones {
			if z.Origin() == "." {
				roots = append(roots, addr)
				break
			}
		}
	}
	if len(addrs) == 0 {
		return nil, ErrNoZones
	}
	slices.Sort(addrs)
	slices.Sort(roots)
	attempts := 20
	if cfg.Port != 0 {
		attempts = 1
	}
	var err error
	for range attempts {
		var h *Hierarchy
		if h, err = listen(addrs, handlers, cfg.Port); err != nil {
			continue // the port was taken on another address: try another
		}
		for _, a := range roots {
			ip, err := netip.ParseAddr(a)
			if err != nil {
				h.Close()
				return nil, fmt.Errorf("resolvertest: root server address %q: %w", a, err)
			}
			h.roots = append(h.roots, netip.AddrPortFrom(ip, uint16(h.Port)))
		}
		for _, s := range h.servers {
			started := make(chan struct{})
			s.NotifyStartedFunc = func() { close(started) }
			go s.ActivateAndServe()
			<-started
		}
		return h, nil
	}
	return nil, fmt.Errorf("resolvertest: no port free on every address: %w", err)
}

// listen opens a UDP socket and a TCP listener on port (zero: one drawn
// for the first address) for every address.
func listen(addrs []string, handlers map[string]dns.Handler, port int) (*Hierarchy, error) {
	h := &Hierarchy{Port: port}
	for _, addr := range addrs {
		pc, err := net.ListenPacket("udp", net.JoinHostPort(addr, fmt.Sprint(h.Port)))
		if err != nil {
			h.release()
			return nil, err
		}
		if h.Port == 0 {
			h.Port = pc.LocalAddr().(*net.UDPAddr).Port
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(addr, fmt.Sprint(h.Port)))
		if err != nil {
			pc.Close()
			h.release()
			return nil, err
		}
		hd := handlers[addr]
		h.servers = append(h.servers, &dns.Server{PacketConn: pc, Handler: hd}, &dns.Server{Listener: ln, Handler: hd})
	}
	return h, nil
}

// release closes the sockets of servers not yet started.
func (h *Hierarchy) release() {
	for _, s := range h.servers {
		if s.PacketConn != nil {
			s.PacketConn.Close()
		}
		if s.Listener != nil {
			s.Listener.Close()
		}
	}
	h.servers = nil
}

// Roots returns the addresses (with Port) of the servers that hold the
// root zone ".", for a resolver's Config.Roots. It is nil when no server
// holds it.
func (h *Hierarchy) Roots() []netip.AddrPort { return slices.Clone(h.roots) }

// Close stops every server and waits for them. It is idempotent.
func (h *Hierarchy) Close() {
	for _, s := range h.servers {
		s.Shutdown()
	}
	h.servers = nil
}
