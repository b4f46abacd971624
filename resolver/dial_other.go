//go:build !linux

package resolver

import "net/netip"

// dialUDP opens a UDP socket connected to server, from a port the system
// picks (RFC 5452 §9.2: a new one for every socket).
func dialUDP(server netip.AddrPort) (udpConn, error) { return dialUDPNet(server) }
