package h3

import (
	"net"

	"go.uber.org/zap"
)

// wantBuffer is the UDP socket buffer size quic-go asks for, each way
// (its desiredBufferSize): below it, quic-go warns through the standard
// log package.
const wantBuffer = 7 << 20

// sizeBuffers raises pc's socket buffers to what quic-go wants, before
// quic-go tries (and warns on its own), and says once through the logger
// when the kernel keeps them smaller.
func (s *Server) sizeBuffers(pc net.PacketConn) {
	rcv, snd, ok := s.raise(pc, wantBuffer)
	if !ok || rcv >= wantBuffer && snd >= wantBuffer {
		return
	}
	s.log.Warn("UDP socket buffers are smaller than QUIC wants; under load, packets will be dropped",
		zap.Int("receive_kib", rcv>>10), zap.Int("send_kib", snd>>10), zap.Int("want_kib", wantBuffer>>10),
		zap.String("raise_with", "sysctl -w net.core.rmem_max=7340032 net.core.wmem_max=7340032"))
}
