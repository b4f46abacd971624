//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package h1

import (
	"net"
	"syscall"
)

// idlePeeker looks at an idle connection's socket without blocking and
// without taking anything from it (recv with MSG_PEEK|MSG_DONTWAIT, one
// byte): one system call and no allocation.
type idlePeeker struct {
	raw  syscall.RawConn
	fn   func(fd uintptr) bool // built once: a closure per peek would allocate
	buf  [1]byte
	n    int
	errn error
}

func (p *idlePeeker) init(nc net.Conn) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	p.raw = raw
	p.fn = func(fd uintptr) bool {
		for {
			p.n, _, p.errn = syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			if p.errn != syscall.EINTR {
				return true // never wait for the socket to become readable
			}
		}
	}
}

// arrived reports what the socket holds: "" when nothing has arrived
// (the read would block) or when the socket cannot be looked at, else
// what did arrive.
func (p *idlePeeker) arrived() string {
	if p.raw == nil {
		return ""
	}
	if err := p.raw.Read(p.fn); err != nil { // closed, or a deadline passed
		return "unusable: " + err.Error()
	}
	switch {
	case p.n > 0:
		return "bytes"
	case p.errn == syscall.EAGAIN || p.errn == syscall.EWOULDBLOCK:
		return ""
	case p.errn == nil:
		return "end of stream"
	}
	return "error: " + p.errn.Error()
}
