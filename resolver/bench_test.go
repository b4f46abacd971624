package resolver

import (
	"net"
	"net/netip"
	"testing"

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
		r.putRRset([]dns.RR{rr}, 2)
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
