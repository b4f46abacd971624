package serve

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// dnsFrame is msg with its two-octet length prefix (RFC 1035 §4.2.2).
func dnsFrame(msg []byte) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(msg))), msg...)
}

// readFrame reads one length-prefixed message from c.
func readFrame(t *testing.T, c net.Conn) []byte {
	t.Helper()
	var size [2]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		t.Fatalf("reading a reply: %v", err)
	}
	msg := make([]byte, binary.BigEndian.Uint16(size[:]))
	if _, err := io.ReadFull(c, msg); err != nil {
		t.Fatalf("reading a reply: %v", err)
	}
	return msg
}

// TestServeDNSConnFraming (RFC 1035 §4.2.2, RFC 7766 §8): queries reach
// the handler whole, in order; packets shorter than a header and
// responses (QR set) never do; a reply written later (Go) is sent before
// the connection closes; a reply longer than 65,535 octets is not sent;
// a zero length prefix ends the connection.
func TestServeDNSConnFraming(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	query := func(id byte, qr bool) []byte {
		h := make([]byte, 12)
		h[1] = id
		if qr {
			h[2] = 0x80
		}
		return h
	}
	var got [][]byte
	done := make(chan struct{})
	go func() {
		defer close(done)
		ServeDNSConn(server, DNSTCPConfig{Idle: time.Minute, Write: time.Minute, Conn: func(d *DNSConn) func([]byte) {
			return func(msg []byte) {
				got = append(got, msg)
				if msg[1] == 3 {
					d.Write(make([]byte, 0x10000)) // too long: dropped
					d.Go(func() { d.Write(msg) })  // answered later, before the close
					return
				}
				d.Write(msg)
			}
		}})
	}()
	go func() {
		var in []byte
		in = append(in, dnsFrame(query(1, false))...)
		in = append(in, dnsFrame([]byte{0, 2, 0})...) // shorter than a header
		in = append(in, dnsFrame(query(2, true))...)  // a response
		in = append(in, dnsFrame(query(3, false))...)
		in = append(in, 0, 0) // zero length: the end
		in = append(in, dnsFrame(query(4, false))...)
		client.Write(in)
	}()
	for _, want := range []byte{1, 3} {
		if r := readFrame(t, client); r[1] != want || len(r) != 12 {
			t.Fatalf("reply %x, want the query with ID %d", r, want)
		}
	}
	if _, err := client.Read(make([]byte, 1)); err == nil {
		t.Fatal("the connection stayed open after a zero length prefix")
	}
	<-done
	if len(got) != 2 || !bytes.Equal(got[0], query(1, false)) || !bytes.Equal(got[1], query(3, false)) {
		t.Fatalf("handler saw %x", got)
	}
}

// TestServeDNSTCPShutdown: at ctx's end the listener closes, an idle
// connection is closed, and a reply in progress (started with Go) is
// still written first.
func TestServeDNSTCPShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	release := make(chan struct{})
	started := make(chan struct{})
	served := make(chan error, 1)
	go func() {
		served <- ServeDNSTCP(ctx, ln, DNSTCPConfig{Idle: time.Minute, Write: time.Minute, Conn: func(d *DNSConn) func([]byte) {
			return func(msg []byte) {
				d.Go(func() {
					close(started)
					<-release
					d.Write(msg)
				})
			}
		}})
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write(dnsFrame(make([]byte, 12)))
	<-started
	cancel()
	close(release)
	if r := readFrame(t, c); len(r) != 12 {
		t.Fatalf("reply %x", r)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection left open after shutdown")
	}
	if err := <-served; err != nil {
		t.Fatalf("ServeDNSTCP: %v", err)
	}
}
