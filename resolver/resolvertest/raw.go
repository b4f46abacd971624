package resolvertest

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/miekg/dns"
)

// RawExchange sends the packet msg, as it is (hostile ones included), to
// the DNS server at addr over network ("udp", or "tcp" with its length
// prefix, RFC 1035 §4.2.2) and returns the reply. When probe is set, msg
// is one the server must not answer: probe (a query it does answer) is
// sent after it, twice over, and the first reply that is not probe's is
// returned, or nil once probe has been answered twice. Each exchange
// gives up after 5 s. It uses a new connection per call.
func RawExchange(network, addr string, msg []byte, probe *dns.Msg) (*dns.Msg, error) {
	c, err := net.DialTimeout(network, addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	send := func(b []byte) error {
		if network == "tcp" {
			b = append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...)
		}
		_, err := c.Write(b)
		return err
	}
	read := func() (*dns.Msg, error) {
		buf := make([]byte, 65535)
		var n int
		var err error
		if network == "tcp" {
			if _, err = io.ReadFull(c, buf[:2]); err == nil {
				n = int(binary.BigEndian.Uint16(buf))
				_, err = io.ReadFull(c, buf[:n])
			}
		} else {
			n, err = c.Read(buf)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: no reply: %w", network, err)
		}
		m := new(dns.Msg)
		if err := m.Unpack(buf[:n]); err != nil {
			return nil, fmt.Errorf("%s: reply does not parse: %w", network, err)
		}
		return m, nil
	}
	if err := send(msg); err != nil {
		return nil, err
	}
	if probe == nil {
		return read()
	}
	pb, err := probe.Pack()
	if err != nil {
		return nil, err
	}
	for range 2 {
		if err := send(pb); err != nil {
			return nil, err
		}
		m, err := read()
		if err != nil || m.Id != probe.Id {
			return m, err
		}
	}
	return nil, nil
}
