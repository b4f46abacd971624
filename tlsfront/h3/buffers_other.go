//go:build !linux

package h3

import "net"

// raiseBuffers asks for want bytes each way where pc allows; it cannot
// tell what the kernel granted, so ok is false.
func raiseBuffers(pc net.PacketConn, want int) (rcv, snd int, ok bool) {
	if b, isBuf := pc.(interface {
		SetReadBuffer(int) error
		SetWriteBuffer(int) error
	}); isBuf {
		b.SetReadBuffer(want)
		b.SetWriteBuffer(want)
	}
	return 0, 0, false
}
