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
// Zones come parsed (Config.Zones) or as zone-file text (Config.Files).
// With Config.Delegate a test gives only its own zones: New adds a root
// server (RootAddr) and a TLD server (TLDAddr) that delegate to them, with
// NS and glue taken from each zone (authority.Zone.Delegation):
//
//	h, err := resolvertest.New(resolvertest.Config{Delegate: true, Files: []resolvertest.ZoneFile{
//		{Addr: "127.0.0.4", Origin: "shop.com.", Text: shopZone},
//	}})
//
// Addresses other than 127.0.0.1 (127.0.0.2, 127.0.0.3, ...) work on Linux
// without setup; on macOS each needs an alias on lo0.
//
// # Signed hierarchies
//
// SignZone signs a zone at test time with a key it makes (RSA/SHA-256 or
// SHA-512, ECDSA P-256 or P-384, Ed25519; NSEC, or NSEC3 with opt-out),
// or keys given (a KSK/ZSK split, extra keys, a revoked key), and
// SignedServer serves signed zones with their RRSIGs, DS records and
// denial proofs to queries with DO. NewSigned builds a whole signed
// hierarchy (root, TLDs, the given zones, each DS in its parent) and
// returns its trust anchor. Signing breaks zones on purpose for
// validator tests: signatures expired or not yet valid, proofs left out,
// a DS matching no key (or of a digest type none knows, SignedZoneFile.ExtraDS),
// an algorithm no validator implements, a DNSKEY RRset not signed by the
// key its DS names, wrong RRSIG label counts, per-TLD denial
// (SignedConfig.TLDs), and a KeyTrap zone (many keys sharing one tag,
// many signatures per RRset).
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
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"

	"github.com/edgekit/edgekit/internal/dnsproto"
	"github.com/edgekit/edgekit/resolver/authority"
	"github.com/miekg/dns"
)

// ErrNoZones reports a Config without any address to serve.
var ErrNoZones = errors.New("resolvertest: no zones")

// Config describes a hierarchy. The zero value of every field but Zones is
// a documented default.
// A plain value: set it up before use and do not change it while in use.
type Config struct {
	// Zones are the zones each server holds, by the server's loopback
	// address ("127.0.0.2"). Zones and Files together need at least one
	// address.
	Zones map[string][]*authority.Zone
	// Files are zones given as zone-file text, parsed by New and served
	// beside Zones.
	Files []ZoneFile
	// Delegate adds a ready-made root and TLD layer above the zones of
	// Zones and Files: a root server on RootAddr (a.root-servers.net.) and
	// a server on TLDAddr (a.gtld-servers.net.) holding the zone of every
	// TLD the given zones are under, and net. for its own name. Each
	// delegates to the given zones below it that no other given zone
	// contains, with their NS records and glue. The given zones must then
	// not be on those addresses, nor be the root. False serves only what
	// is given.
	Delegate bool
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

// ZoneFile is a zone as zone-file text (RFC 1035 §5) and the loopback
// address of the server that holds it.
// A plain value, safe for concurrent use while no goroutine changes it.
type ZoneFile struct {
	Addr   string // the server's loopback address, "127.0.0.4"
	Origin string // the zone's apex, "shop.com."; relative names are relative to it
	Text   string
}

// The addresses of the layer that Config.Delegate adds.
const (
	RootAddr = "127.0.0.2" // the root server, a.root-servers.net.
	TLDAddr  = "127.0.0.3" // the TLD server, a.gtld-servers.net.
)

// Hierarchy is a set of authoritative servers running on loopback
// addresses, started by New. Roots is safe for concurrent use; Close is
// called once, by the goroutine that owns the Hierarchy (usually a
// test's cleanup).
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
	byAddr, err := allZones(cfg)
	if err != nil {
		return nil, err
	}
	handlers := map[string]dns.Handler{}
	var addrs, roots []string
	for addr, zones := range byAddr {
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

// allZones returns the zones of cfg.Zones and cfg.Files by address, and
// with cfg.Delegate the root and TLD layer above them.
func allZones(cfg Config) (map[string][]*authority.Zone, error) {
	byAddr := map[string][]*authority.Zone{}
	for addr, zones := range cfg.Zones {
		byAddr[addr] = slices.Clone(zones)
	}
	for _, f := range cfg.Files {
		z, err := authority.ParseZone(strings.NewReader(f.Text), f.Origin, f.Origin)
		if err != nil {
			return nil, fmt.Errorf("resolvertest: %s: %w", f.Addr, err)
		}
		byAddr[f.Addr] = append(byAddr[f.Addr], z)
	}
	if cfg.Delegate && len(byAddr) > 0 {
		if err := delegate(byAddr); err != nil {
			return nil, err
		}
	}
	return byAddr, nil
}

// delegate adds to byAddr the root zone on RootAddr and the TLD zones on
// TLDAddr that delegate to the zones of byAddr.
func delegate(byAddr map[string][]*authority.Zone) error {
	if len(byAddr[RootAddr]) > 0 || len(byAddr[TLDAddr]) > 0 {
		return fmt.Errorf("resolvertest: Delegate serves %s and %s itself: give the zones other addresses", RootAddr, TLDAddr)
	}
	var given []*authority.Zone
	for _, addr := range slices.Sorted(maps.Keys(byAddr)) {
		given = append(given, byAddr[addr]...)
	}
	isGiven := func(name string) bool {
		return slices.ContainsFunc(given, func(z *authority.Zone) bool { return z.Origin() == name })
	}
	// Each given zone hangs below its nearest given ancestor, or else
	// below its TLD (or the root, for a TLD), whose zone the layer writes.
	cuts := map[string][]dns.RR{}
	for _, z := range given {
		name := z.Origin()
		if name == "." {
			return fmt.Errorf("resolvertest: Delegate writes the root zone itself: give zones below it")
		}
		parent := ""
		for p := dnsproto.Parent(name); ; p = dnsproto.Parent(p) {
			if isGiven(p) {
				break // the given parent delegates
			}
			if p == "." || dns.CountLabel(p) == 1 {
				parent = p
				break
			}
		}
		if parent == "" {
			continue
		}
		cuts[parent] = append(cuts[parent], z.Delegation()...)
	}
	tlds := []string{"net."}
	for p := range cuts {
		if p != "." && !slices.Contains(tlds, p) {
			tlds = append(tlds, p)
		}
	}
	slices.Sort(tlds)
	var root strings.Builder
	root.WriteString(". 86400 IN SOA a.root-servers.net. nstld.example. 1 1800 900 604800 86400\n")
	root.WriteString(". 518400 IN NS a.root-servers.net.\n")
	root.WriteString("a.root-servers.net. 518400 IN A " + RootAddr + "\n")
	for _, tld := range tlds {
		if !isGiven(tld) {
			root.WriteString(tld + " 172800 IN NS a.gtld-servers.net.\n")
		}
	}
	root.WriteString("a.gtld-servers.net. 172800 IN A " + TLDAddr + "\n")
	writeCuts(&root, cuts["."])
	layer := map[string]string{".": root.String()}
	for _, tld := range tlds {
		if isGiven(tld) {
			continue
		}
		var b strings.Builder
		b.WriteString(tld + " 900 IN SOA a.gtld-servers.net. nstld.example. 1 1800 900 604800 900\n")
		b.WriteString(tld + " 172800 IN NS a.gtld-servers.net.\n")
		if tld == "net." {
			b.WriteString("a.gtld-servers.net. 172800 IN A " + TLDAddr + "\n")
		}
		writeCuts(&b, cuts[tld])
		layer[tld] = b.String()
	}
	for _, origin := range append([]string{"."}, tlds...) {
		text, ok := layer[origin]
		if !ok {
			continue
		}
		z, err := authority.ParseZone(strings.NewReader(text), origin, "resolvertest:"+origin)
		if err != nil {
			return fmt.Errorf("resolvertest: delegating: %w", err)
		}
		addr := TLDAddr
		if origin == "." {
			addr = RootAddr
		}
		byAddr[addr] = append(byAddr[addr], z)
	}
	return nil
}

// writeCuts writes delegation records with a parent's TTL (two days, as
// the root and the TLDs give).
func writeCuts(b *strings.Builder, rrs []dns.RR) {
	for _, rr := range rrs {
		rr.Header().Ttl = 172800
		b.WriteString(rr.String() + "\n")
	}
}

// listen opens a UDP socket and a TCP listener on port (zero: one drawn
// for the first address) for every address. A drawn port may be free over
// UDP and taken over TCP on some address: then it draws again, a bounded
// number of times.
func listen(addrs []string, handlers map[string]dns.Handler, port int) (*Hierarchy, error) {
	for attempt := 0; ; attempt++ {
		h, err := listenOn(addrs, handlers, port)
		if err == nil || port != 0 || attempt >= 20 || !errors.Is(err, syscall.EADDRINUSE) {
			return h, err
		}
	}
}

func listenOn(addrs []string, handlers map[string]dns.Handler, port int) (*Hierarchy, error) {
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
