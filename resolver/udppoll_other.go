//go:build !(linux && (amd64 || arm64))

package resolver

import (
	"context"
	"net/netip"
	"time"
)

// udpPoller is the Linux epoll path of upstream UDP exchanges; elsewhere
// every exchange takes the portable path (dialUDP).
type udpPoller struct{}

func newUDPPoller() (*udpPoller, error) { return nil, errNoRawPath }

func (p *udpPoller) close() {}

func (p *udpPoller) open(ctx, stop context.Context, server netip.AddrPort, deadline time.Time) (upstreamSocket, error) {
	return nil, errNoRawPath
}
