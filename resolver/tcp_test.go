package resolver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/serve"
	"github.com/miekg/dns"
)

// gateResolver answers "slow." only once released; every other name at
// once.
type gateResolver struct{ release chan struct{} }

func (g gateResolver) Resolve(ctx context.Context, q dns.Question) (*dns.Msg, error) {
	if q.Name == "slow." {
		select {
		case <-g.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return fixedResolver{}.Resolve(ctx, q)
}

// stopWatch is a listener whose connections close stopped when their
// read deadline is set in the past: ServeTCP's shutdown stopping their
// readers.
type stopWatch struct {
	net.Listener
	stopped chan struct{}
	once    sync.Once
}

func (l *stopWatch) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return stopWatchConn{c, l}, nil
}

type stopWatchConn struct {
	net.Conn
	l *stopWatch
}

func (c stopWatchConn) SetReadDeadline(t time.Time) error {
	err := c.Conn.SetReadDeadline(t)
	if t.Before(time.Now()) {
		c.l.once.Do(func() { close(c.l.stopped) })
	}
	return err
}

// RFC 7766 §6.2.1.1: queries pipelined on one connection are answered
// concurrently and out of order; a malformed one gets FORMERR and a
// response is dropped; at shutdown the answers in progress are still sent.
func TestRFC7766_ServeTCPPipelining(t *testing.T) {
	g := gateResolver{release: make(chan struct{})}
	srv, err := NewServer(ServerConfig{Resolver: g})
	if err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &stopWatch{Listener: inner, stopped: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeTCP(ctx, ln) }()

	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	c := &dns.Conn{Conn: nc}
	ask := func(name string) *dns.Msg {
		q := new(dns.Msg)
		q.SetQuestion(name, dns.TypeA)
		if err := c.WriteMsg(q); err != nil {
			t.Fatal(err)
		}
		return q
	}
	slow := ask("slow.")
	fast := ask("fast.")
	if m, err := c.ReadMsg(); err != nil || m.Id != fast.Id || len(m.Answer) != 1 {
		t.Fatalf("first reply %v, %v: want the fast one, before the slow one", m, err)
	}
	// A response is dropped; a malformed query (counts promise a question
	// that is not there) gets FORMERR with its ID.
	resp := new(dns.Msg)
	resp.SetQuestion("x.", dns.TypeA)
	resp.Response = true
	c.WriteMsg(resp)
	c.Write([]byte{0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xff})
	if m, err := c.ReadMsg(); err != nil || m.Id != 0xbeef || m.Rcode != dns.RcodeFormatError {
		t.Fatalf("malformed query: %v, %v", m, err)
	}
	// Shutdown with the slow question in progress: ServeTCP waits for
	// its answer, which still reaches the client. The answer is released
	// once the shutdown has stopped the connection's reader (its read
	// deadline set in the past), not after polling for the listener.
	cancel()
	select {
	case <-ln.stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("the shutdown never stopped the connection's reader")
	}
	close(g.release)
	if m, err := c.ReadMsg(); err != nil || m.Id != slow.Id || len(m.Answer) != 1 {
		t.Fatalf("slow reply at shutdown: %v, %v", m, err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ServeTCP: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeTCP still waiting for its connections after shutdown")
	}
	if _, err := c.ReadMsg(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection not closed after ServeTCP returned: %v", err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Fatal("listener still accepting")
	}
}

// FuzzServeTCPConn feeds arbitrary byte streams to one TCP connection: it
// never panics or hangs, and every reply is a framed message that parses.
func FuzzServeTCPConn(f *testing.F) {
	q := new(dns.Msg)
	q.SetQuestion("example.com.", dns.TypeA)
	wire, _ := q.Pack()
	framed := append([]byte{byte(len(wire) >> 8), byte(len(wire))}, wire...)
	f.Add(framed)
	f.Add(append(append([]byte{}, framed...), framed...))
	f.Add([]byte{0, 13, 0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xff})
	f.Add([]byte{0xff, 0xff, 1, 2, 3})
	srv, err := NewServer(ServerConfig{Resolver: fixedResolver{}})
	if err != nil {
		f.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	defer ln.Close()
	f.Fuzz(func(t *testing.T, data []byte) {
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		server, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan struct{})
		go func() {
			defer close(served)
			serve.ServeDNSConn(server, serve.DNSTCPConfig{Idle: tcpIdleTimeout, Write: tcpWriteTimeout, Conn: srv.tcpConn})
		}()
		go func() {
			client.Write(data)
			client.(*net.TCPConn).CloseWrite() // the server reads to EOF, answers, closes
		}()
		client.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			var size [2]byte
			if _, err := io.ReadFull(client, size[:]); err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatal("no end to the replies: the connection was not closed")
				}
				break
			}
			msg := make([]byte, int(size[0])<<8|int(size[1]))
			if _, err := io.ReadFull(client, msg); err != nil {
				t.Fatalf("truncated reply frame: %v", err)
			}
			m := new(dns.Msg)
			if err := m.Unpack(msg); err != nil || !m.Response {
				t.Fatalf("reply does not parse: %v", err)
			}
		}
		<-served
	})
}

// lyingQuery is a query for example.com. A whose header says it carries
// one answer record, which it does not.
func lyingQuery(id uint16) []byte {
	q := new(dns.Msg)
	q.SetQuestion("example.com.", dns.TypeA)
	q.Id = id
	b, _ := q.Pack()
	b[7] = 1 // ANCOUNT 1
	return b
}

// RFC 1035 §4.1.1: a query whose header promises records it does not carry
// is FORMERR over UDP and TCP (as Unbound answers), never resolved.
func TestRFC1035_HeaderCountsMustMatchRecords(t *testing.T) {
	srv, err := NewServer(ServerConfig{Resolver: fixedResolver{}})
	if err != nil {
		t.Fatal(err)
	}
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
	done := make(chan error, 2)
	go func() { done <- srv.ServeUDP(ctx, pc) }()
	go func() { done <- srv.ServeTCP(ctx, ln) }()
	defer func() {
		cancel()
		<-done
		<-done
	}()

	uc, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	uc.SetDeadline(time.Now().Add(5 * time.Second))
	uc.Write(lyingQuery(7))
	buf := make([]byte, 512)
	n, err := uc.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	m := new(dns.Msg)
	if err := m.Unpack(buf[:n]); err != nil || m.Id != 7 || m.Rcode != dns.RcodeFormatError || len(m.Answer) != 0 {
		t.Fatalf("UDP: %v %v", m, err)
	}

	tc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(5 * time.Second))
	b := lyingQuery(8)
	tc.Write(append([]byte{byte(len(b) >> 8), byte(len(b))}, b...))
	c := &dns.Conn{Conn: tc}
	if m, err := c.ReadMsg(); err != nil || m.Id != 8 || m.Rcode != dns.RcodeFormatError || len(m.Answer) != 0 {
		t.Fatalf("TCP: %v %v", m, err)
	}
}

// A TCP message of length 0 cannot be a DNS message (RFC 1035 §4.2.2
// frames messages, each at least a header): the connection is closed at
// once instead of held for the idle timeout.
func TestRFC7766_ZeroLengthMessageClosesConnection(t *testing.T) {
	srv, err := NewServer(ServerConfig{Resolver: fixedResolver{}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ServeTCP(ctx, ln) }()
	defer func() {
		cancel()
		<-done
	}()
	tc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(5 * time.Second)) // far below the 30 s idle timeout
	tc.Write([]byte{0, 0})
	if _, err := tc.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after a zero-length message: read %v, want EOF (connection closed)", err)
	}
}

// RFC 1035 §4.1.4: replies compress names, over UDP, TCP and DoH (all built
// by respond). A single A answer to host.example. without EDNS is 46
// bytes (12 header, 18 question, 16 answer with a pointer), as Unbound
// sends it, not 58; and a large answer is truncated by its compressed
// size, so it fits where it fits.
func TestRFC1035_NamesCompressedInReplies(t *testing.T) {
	srv := serverWithCache(t, "host.example. 60 IN A 192.0.2.1")
	var txt []dns.RR
	for i := 0; i < 20; i++ {
		rr, _ := dns.NewRR(fmt.Sprintf("a-rather-long-label-for-testing.host.example. 60 IN TXT \"%02d\"", i))
		txt = append(txt, rr)
	}
	srv.cfg.Resolver.(*Recursive).putRRset(txt, rankAnswer)
	from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}
	q := new(dns.Msg)
	q.SetQuestion("host.example.", dns.TypeA)
	reply := srv.answer(from, &net.UDPAddr{}, q)
	if b, err := reply.Pack(); err != nil || len(b) != 46 {
		t.Fatalf("single A answer: %d bytes (%v), want 46", len(b), err)
	}
	// 20 TXT records with a 45-byte owner: about 1,100 bytes
	// uncompressed, under 400 compressed: no truncation at 512 bytes.
	q.SetQuestion("a-rather-long-label-for-testing.host.example.", dns.TypeTXT)
	reply = srv.answer(from, &net.UDPAddr{}, q)
	if b, err := reply.Pack(); err != nil || reply.Truncated || len(reply.Answer) != 20 || len(b) > 512 {
		t.Fatalf("20 TXT: TC=%v, %d records, %d bytes (%v)", reply.Truncated, len(reply.Answer), len(b), err)
	}
}
