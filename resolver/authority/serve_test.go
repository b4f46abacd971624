package authority

import (
	"context"
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const serveZone = `$TTL 300
example. IN SOA ns.example. admin.example. 1 7200 3600 1209600 60
example. IN NS ns.example.
ns IN A 192.0.2.53
www IN A 192.0.2.80
`

func serveServer(t testing.TB) *Server {
	t.Helper()
	z, err := ParseZone(strings.NewReader(serveZone), "example.", "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Zones: []*Zone{z}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ServeUDP and ServeTCP return nil once ctx is done, with a client
// connection idle in the middle of a message (a hostile client that
// stalls), without waiting for its idle timeout; they leave no goroutine.
func TestServeStopsWithStalledClient(t *testing.T) {
	s := serveServer(t)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 2)
	go func() { errc <- s.ServeUDP(ctx, pc) }()
	go func() { errc <- s.ServeTCP(ctx, ln) }()

	q := new(dns.Msg)
	q.SetQuestion("www.example.", dns.TypeA)
	for _, network := range []string{"udp", "tcp"} {
		addr := pc.LocalAddr().String()
		if network == "tcp" {
			addr = ln.Addr().String()
		}
		r, _, err := (&dns.Client{Net: network, Timeout: 2 * time.Second}).Exchange(q, addr)
		if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || !r.Authoritative {
			t.Fatalf("%s: %v %v", network, r, err)
		}
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b, _ := q.Pack()
	c.Write(binary.BigEndian.AppendUint16(nil, uint16(len(b))))
	c.Write(b)
	var size [2]byte
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(size[:]); err != nil {
		t.Fatal("no answer before the stall:", err)
	}
	c.Write([]byte{0, 100, 1, 2, 3}) // 5 of 102 bytes, then nothing
	cancel()
	for range 2 {
		select {
		case err := <-errc:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("not stopped")
		}
	}
}

// A TCP message of length 0 ends the connection (RFC 1035 §4.2.2: no DNS
// message is empty); a response (QR set) is not answered, and the next
// query on the connection is.
func TestServeTCPHostileFraming(t *testing.T) {
	s := serveServer(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ServeTCP(ctx, ln) }()
	defer func() { cancel(); <-done }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	frame := func(m *dns.Msg) []byte {
		b, _ := m.Pack()
		return append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...)
	}
	resp := new(dns.Msg)
	resp.SetQuestion("www.example.", dns.TypeA)
	resp.Response, resp.Id = true, 1
	q := new(dns.Msg)
	q.SetQuestion("www.example.", dns.TypeA)
	q.Id = 2
	c.Write(append(frame(resp), frame(q)...))
	r, err := (&dns.Conn{Conn: c}).ReadMsg()
	if err != nil || r.Id != 2 {
		t.Fatalf("reply %v, %v; want the answer to ID 2 only", r, err)
	}
	c.Write([]byte{0, 0})
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection open after an empty message")
	}
}

// FuzzReplyTo sends any packet through the serving path: no panic, and a
// reply, when there is one, parses, answers the query's ID and opcode
// with QR set (RFC 1035 §4.1.1), and over UDP without EDNS fits 512
// bytes (RFC 1035 §4.2.1).
func FuzzReplyTo(f *testing.F) {
	s := serveServer(f)
	q := new(dns.Msg)
	q.SetQuestion("www.example.", dns.TypeA)
	b, _ := q.Pack()
	f.Add(b)
	q.SetEdns0(1232, true)
	b, _ = q.Pack()
	f.Add(b)
	q.Opcode = dns.OpcodeUpdate
	b, _ = q.Pack()
	f.Add(b)
	f.Add([]byte{0x12, 0x34, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x12, 0x34, 1})
	remote := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}
	f.Fuzz(func(t *testing.T, msg []byte) {
		for _, tcp := range []bool{false, true} {
			b := s.replyTo(msg, remote, tcp, nil)
			if b == nil {
				continue
			}
			if len(msg) < 12 || msg[2]&0x80 != 0 {
				t.Fatal("answered a packet without a header, or a response")
			}
			m := new(dns.Msg)
			if err := m.Unpack(b); err != nil {
				t.Fatalf("reply does not parse: %v", err)
			}
			if m.Id != binary.BigEndian.Uint16(msg) || !m.Response || m.Opcode != int(msg[2]>>3)&0xf {
				t.Fatalf("reply header %v for query header % x", m.MsgHdr, msg[:4])
			}
			if !tcp && len(b) > dns.MinMsgSize && m.IsEdns0() == nil {
				t.Fatalf("UDP reply of %d bytes", len(b))
			}
		}
	})
}

// BenchmarkServeUDP: one query at a time over loopback UDP, answered by
// ServeUDP and, as the baseline, by a dns.Server over the same Server.
func BenchmarkServeUDP(b *testing.B) {
	s := serveServer(b)
	q := new(dns.Msg)
	q.SetQuestion("www.example.", dns.TypeA)
	q.SetEdns0(1232, false)
	qb, _ := q.Pack()
	run := func(b *testing.B, addr string) {
		c, err := net.Dial("udp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		buf := make([]byte, 1232)
		b.ReportAllocs()
		for b.Loop() {
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			c.Write(qb)
			if _, err := c.Read(buf); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("ServeUDP", func(b *testing.B) {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer pc.Close()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); s.ServeUDP(ctx, pc) }()
		defer func() { cancel(); <-done }()
		run(b, pc.LocalAddr().String())
	})
	b.Run("dns.Server", func(b *testing.B) {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		srv := &dns.Server{PacketConn: pc, Handler: s}
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
		defer srv.Shutdown()
		run(b, pc.LocalAddr().String())
	})
}
