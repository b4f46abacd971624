package conntrack

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/edgekit/edgekit/firewall"
	"github.com/edgekit/edgekit/internal/clock"
)

func TestConntrackStatesAndTimeouts(t *testing.T) {
	fc := clock.NewFake(time.Time{})
	tr, _ := New(Config{MaxFlows: 100, Now: fc.Now})
	local := netip.MustParseAddrPort("192.0.2.10:40000")
	server := netip.MustParseAddrPort("198.51.100.53:53")
	if s := tr.Outbound(local, server, firewall.UDP, 4242); s != StateNew {
		t.Fatalf("outbound: %v", s)
	}
	if s := tr.Inbound(local, netip.MustParseAddrPort("203.0.113.1:53"), firewall.UDP, 4242); s != StateInvalid {
		t.Fatalf("reply from a server not asked: %v", s)
	}
	if s := tr.Inbound(local, server, firewall.UDP, 1111); s != StateInvalid {
		t.Fatalf("reply with a wrong query ID: %v", s)
	}
	if s := tr.Inbound(local, server, firewall.UDP, 4242); s != StateEstablished {
		t.Fatalf("matching reply: %v", s)
	}
	if s := tr.Inbound(netip.MustParseAddrPort("192.0.2.10:40001"), netip.MustParseAddrPort("198.51.100.53:20"), firewall.TCP, -1); s != StateRelated {
		t.Fatalf("related: %v", s)
	}
	fc.Advance(6 * time.Minute)
	if s := tr.Inbound(local, server, firewall.UDP, 4242); s != StateInvalid {
		t.Fatalf("after the timeout: %v", s)
	}
	// A flood stays bounded.
	for i := 0; i < 10000; i++ {
		tr.Outbound(local, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 80), firewall.TCP, -1)
	}
	if st := tr.Stats(); st.Flows > 100 || st.Evicted == 0 {
		t.Fatalf("flood: %+v", st)
	}
	fc.Advance(time.Minute)
	if n := tr.Expire(); n != 100 {
		t.Fatalf("expired %d", n)
	}
}

func TestNewRefusesNegativeBounds(t *testing.T) {
	for _, cfg := range []Config{{MaxFlows: -1}, {NewTimeout: -1}, {EstablishedTimeout: -1}} {
		if _, err := New(cfg); !errors.Is(err, firewall.ErrInvalidConfig) {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}
