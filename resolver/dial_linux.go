//go:build linux

package resolver

import (
	"net/netip"
	"os"
	"syscall"
)

// dialUDP opens a UDP socket connected to server. The kernel binds it to
// a port of the ephemeral range found from a random starting point (Linux
// autobind), a new one for every socket (RFC 5452 §9.2). It makes the
// socket with the system calls it needs (socket, connect) and hands it to
// Go's poller as an *os.File; net.DialUDP adds a socket option and two
// address lookups (local and peer) that an upstream query never reads.
// A scoped IPv6 address (a zone) goes through net.DialUDP.
func dialUDP(server netip.AddrPort) (udpConn, error) {
	a := server.Addr()
	var sa syscall.Sockaddr
	family := syscall.AF_INET
	switch {
	case a.Zone() != "":
		return dialUDPNet(server)
	case a.Is4() || a.Is4In6():
		sa = &syscall.SockaddrInet4{Port: int(server.Port()), Addr: a.Unmap().As4()}
	default:
		family = syscall.AF_INET6
		sa = &syscall.SockaddrInet6{Port: int(server.Port()), Addr: a.As16()}
	}
	fd, err := syscall.Socket(family, syscall.SOCK_DGRAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, syscall.IPPROTO_UDP)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if err := syscall.Connect(fd, sa); err != nil {
		syscall.Close(fd)
		return nil, os.NewSyscallError("connect", err)
	}
	// A non-blocking descriptor: NewFile registers it with the poller, so
	// reads wait without holding a thread and deadlines work.
	return os.NewFile(uintptr(fd), "udp"), nil
}
