package resolver

import (
	"fmt"
	"net"

	"github.com/miekg/dns"
)

// Loopback is a set of authoritative servers running in-process on
// loopback addresses, one port shared by all, as tests and examples use to
// build a whole root -> TLD -> authoritative hierarchy. Point a resolver at
// it with Config.Roots (the root server's address and Port) and
// Config.Port = Port, and AllowLoopback. The servers answer queries
// concurrently; Close, which stops them all, is to be called once, by the
// owner, not concurrently with itself.
type Loopback struct {
	// Port is the port every server listens on (UDP and TCP).
	Port    int
	servers []*dns.Server
}

// ServeZones starts one authoritative server (UDP and TCP) per address,
// each serving its zones through a ZoneServer with the given handler
// wrapper (nil means none), all on one free port. Addresses must be
// loopback ones such as "127.0.0.2".
func ServeZones(byAddr map[string][]*Zone, rotate bool, wrap func(dns.Handler) dns.Handler) (*Loopback, error) {
	handlers := map[string]dns.Handler{}
	var firstAddr string
	for addr, zones := range byAddr {
		zs, err := NewZoneServer(ZoneServerConfig{Zones: zones, Rotate: rotate})
		if err != nil {
			return nil, err
		}
		var h dns.Handler = zs
		if wrap != nil {
			h = wrap(h)
		}
		handlers[addr] = h
		if firstAddr == "" || addr < firstAddr {
			firstAddr = addr
		}
	}
	if firstAddr == "" {
		return nil, fmt.Errorf("%w: no addresses", ErrBadZone)
	}
	for attempt := 0; attempt < 20; attempt++ {
		first, err := net.ListenPacket("udp", firstAddr+":0")
		if err != nil {
			return nil, err
		}
		l := &Loopback{Port: first.LocalAddr().(*net.UDPAddr).Port}
		ok := true
		for addr, h := range handlers {
			pc := first
			if addr != firstAddr {
				if pc, err = net.ListenPacket("udp", fmt.Sprintf("%s:%d", addr, l.Port)); err != nil {
					ok = false
					break
				}
			}
			ln, err := net.Listen("tcp", fmt.Sprintf("%s:%d", addr, l.Port))
			if err != nil {
				pc.Close()
				ok = false
				break
			}
			l.servers = append(l.servers, &dns.Server{PacketConn: pc, Handler: h}, &dns.Server{Listener: ln, Handler: h})
		}
		if !ok {
			for _, s := range l.servers {
				if s.PacketConn != nil {
					s.PacketConn.Close()
				}
				if s.Listener != nil {
					s.Listener.Close()
				}
			}
			first.Close()
			continue // the port was taken on another address: try another
		}
		for _, s := range l.servers {
			started := make(chan struct{})
			s.NotifyStartedFunc = func() { close(started) }
			go s.ActivateAndServe()
			<-started
		}
		return l, nil
	}
	return nil, fmt.Errorf("resolver: no free port common to the loopback addresses")
}

// Close stops every server. It is idempotent.
func (l *Loopback) Close() {
	for _, s := range l.servers {
		s.Shutdown()
	}
	l.servers = nil
}
