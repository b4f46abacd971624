package resolver

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// benchWriter is a minimal dns.ResponseWriter that packs the reply, as a
// server would, and discards it.
type benchWriter struct{ remote, local net.Addr }

func (w *benchWriter) LocalAddr() net.Addr  { return w.local }
func (w *benchWriter) RemoteAddr() net.Addr { return w.remote }
func (w *benchWriter) Network() string      { return "udp" }
func (w *benchWriter) WriteMsg(m *dns.Msg) error {
	_, err := m.Pack()
	return err
}
func (w *benchWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *benchWriter) Close() error                { return nil }
func (w *benchWriter) TsigStatus() error           { return nil }
func (w *benchWriter) TsigTimersOnly(bool)         {}
func (w *benchWriter) Hijack()                     {}

// BenchmarkHandlerCacheHit answers a cached A query through the resolver's
// dns.Handler, beside a miekg/dns handler answering a fixed record.
func BenchmarkHandlerCacheHit(b *testing.B) {
	w := &benchWriter{remote: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}, local: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53}}
	q := new(dns.Msg)
	q.SetQuestion("www.example.com.", dns.TypeA)
	b.Run("resolver.Server", func(b *testing.B) {
		r, err := New(Config{Roots: []netip.AddrPort{}, Hosts: nil})
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		rr, _ := dns.NewRR("www.example.com. 3600 IN A 192.0.2.1")
		r.putRRset([]dns.RR{rr}, rankAnswer)
		srv, _ := NewServer(ServerConfig{Resolver: r})
		b.ReportAllocs()
		for b.Loop() {
			srv.ServeDNS(w, q)
		}
	})
	b.Run("miekg fixed answer", func(b *testing.B) {
		rr, _ := dns.NewRR("www.example.com. 3600 IN A 192.0.2.1")
		h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
			m := new(dns.Msg)
			m.SetReply(r)
			m.Answer = []dns.RR{rr}
			w.WriteMsg(m)
		})
		b.ReportAllocs()
		for b.Loop() {
			h.ServeDNS(w, q)
		}
	})
}

// BenchmarkResolveMiss resolves a new name on every iteration (below a
// wildcard of the loopback hierarchy, with the delegation already cached),
// so each is one query to the authoritative server, beside that query
// alone sent with miekg/dns's Client: the floor a resolution cannot beat.
func BenchmarkResolveMiss(b *testing.B) {
	h := newHierarchy(b)
	b.Run("Recursive.Resolve", func(b *testing.B) {
		r := newResolver(b, h.config())
		resolve(b, r, "warm.wild.example.com.", dns.TypeA)
		ctx := context.Background()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			m, err := r.Resolve(ctx, dns.Question{Name: "n" + strconv.Itoa(i) + ".wild.example.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
			if err != nil || len(m.Answer) != 1 {
				b.Fatalf("%v %v", m, err)
			}
		}
	})
	b.Run("miekg Client.Exchange", func(b *testing.B) {
		c := &dns.Client{Net: "udp", Timeout: time.Second}
		server := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.4"), uint16(h.port)).String()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			q := new(dns.Msg)
			q.SetQuestion("n"+strconv.Itoa(i)+".wild.example.com.", dns.TypeA)
			q.SetEdns0(1232, false)
			m, _, err := c.Exchange(q, server)
			if err != nil || len(m.Answer) != 1 {
				b.Fatalf("%v %v", m, err)
			}
		}
	})
}

// BenchmarkUDPExchange sends one upstream query and waits for its reply,
// from many goroutines at once, to a loopback server that answers every
// query: through the epoll path (Linux), the portable path (a socket in
// Go's poller), and miekg/dns's Client. Each query has a socket and port
// of its own (RFC 5452 §9.2). cpu-us/op is the process's CPU time (user
// and system, the server's included) per exchange: what a busy resolver
// pays per cache miss.
func BenchmarkUDPExchange(b *testing.B) {
	srv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	go func() {
		buf := make([]byte, 512)
		q := new(dns.Msg)
		for {
			n, from, err := srv.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if q.Unpack(buf[:n]) != nil {
				continue
			}
			m := new(dns.Msg)
			m.SetReply(q)
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: net.IPv4(192, 0, 2, 1)}}
			out, _ := m.PackBuffer(buf[n:])
			srv.WriteToUDPAddrPort(out, from)
		}
	}()
	server := srv.LocalAddr().(*net.UDPAddr).AddrPort()
	run := func(b *testing.B, exchange func(q *dns.Msg) error) {
		b.ReportAllocs()
		b.SetParallelism(32)
		start := cpuTime()
		b.RunParallel(func(pb *testing.PB) {
			q := new(dns.Msg)
			q.SetQuestion("www.example.com.", dns.TypeA)
			q.SetEdns0(1232, false)
			for pb.Next() {
				q.Id = dns.Id()
				if err := exchange(q); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64((cpuTime()-start).Microseconds())/float64(b.N), "cpu-us/op")
	}
	for _, path := range []string{"poller", "portable"} {
		b.Run("Recursive.exchangeUDP/"+path, func(b *testing.B) {
			r, err := New(Config{Roots: []netip.AddrPort{}, AllowLoopback: true})
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			r.udpWaiting.noPoll = path == "portable"
			run(b, func(q *dns.Msg) error {
				_, err := r.exchangeUDP(context.Background(), q, server, time.Now().Add(2*time.Second))
				return err
			})
		})
	}
	b.Run("miekg Client.Exchange", func(b *testing.B) {
		c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
		addr := server.String()
		run(b, func(q *dns.Msg) error {
			_, _, err := c.Exchange(q, addr)
			return err
		})
	})
}
