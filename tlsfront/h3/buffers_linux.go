package h3

import (
	"net"
	"syscall"
)

// raiseBuffers sets pc's receive and send buffers to at least want
// bytes, with SO_RCVBUFFORCE and SO_SNDBUFFORCE past the sysctl limits
// when privileged, as quic-go does, and returns the sizes the kernel
// reports (twice what it was asked, which quic-go compares with want);
// ok is false when pc is not a socket it can look into.
func raiseBuffers(pc net.PacketConn, want int) (rcv, snd int, ok bool) {
	uc, isUDP := pc.(*net.UDPConn)
	if !isUDP {
		return 0, 0, false
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return 0, 0, false
	}
	get := func(opt int) (n int) {
		n = -1
		rc.Control(func(fd uintptr) {
			if v, err := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, opt); err == nil {
				n = v
			}
		})
		return n
	}
	raise := func(opt, force int, set func(int) error) int {
		if n := get(opt); n >= want || n < 0 {
			return n
		}
		set(want) // up to net.core.[rw]mem_max
		if get(opt) < want {
			rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, force, want) })
		}
		return get(opt)
	}
	rcv = raise(syscall.SO_RCVBUF, syscall.SO_RCVBUFFORCE, uc.SetReadBuffer)
	snd = raise(syscall.SO_SNDBUF, syscall.SO_SNDBUFFORCE, uc.SetWriteBuffer)
	return rcv, snd, rcv >= 0 && snd >= 0
}
