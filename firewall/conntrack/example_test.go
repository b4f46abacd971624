package conntrack_test

import (
	"fmt"
	"net/netip"

	"github.com/edgekit/edgekit/firewall"
	"github.com/edgekit/edgekit/firewall/conntrack"
)

// A DNS query leaves; only the reply from the server asked, to the port
// that asked, with the query's ID, is ESTABLISHED.
func ExampleTable() {
	t, err := conntrack.New(conntrack.Config{})
	if err != nil {
		panic(err)
	}
	local := netip.MustParseAddrPort("192.0.2.10:40000")
	server := netip.MustParseAddrPort("198.51.100.53:53")
	fmt.Println(t.Outbound(local, server, firewall.UDP, 4242))
	fmt.Println(t.Inbound(local, netip.MustParseAddrPort("203.0.113.1:53"), firewall.UDP, 4242)) // another server
	fmt.Println(t.Inbound(local, server, firewall.UDP, 1111))                                    // a guessed ID
	fmt.Println(t.Inbound(local, server, firewall.UDP, 4242))
	fmt.Println(conntrack.State(9))
	// Output:
	// NEW
	// INVALID
	// INVALID
	// ESTABLISHED
	// State(9)
}
