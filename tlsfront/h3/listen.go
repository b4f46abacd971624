package h3

import (
	"fmt"
	"net"
)

// listenTries bounds the draws of a free port for Listen with port 0.
const listenTries = 20

// Listen listens on addr over TCP and on the same port over UDP, for a
// site served with TLS over TCP and HTTP/3 beside it (Alt-Svc names one
// port for both). With port 0 it draws a port the kernel chose for TCP
// and binds UDP to it, drawing again, a bounded number of times, while
// UDP finds that port taken.
func Listen(addr string) (net.Listener, net.PacketConn, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("h3: %w", err)
	}
	for try := 1; ; try++ {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, nil, err
		}
		pc, err := net.ListenPacket("udp", ln.Addr().String())
		if err == nil {
			return ln, pc, nil
		}
		ln.Close()
		if port != "0" || try == listenTries {
			return nil, nil, err
		}
	}
}
