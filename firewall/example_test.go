package firewall_test

import (
	"fmt"
	"net/http/httptest"
	"net/netip"

	"github.com/edgekit/edgekit/firewall"
)

// nginx on 10.0.0.1 appends X-Forwarded-For ($proxy_add_x_forwarded_for);
// nothing else the client sends is read.
func ExampleRealIP() {
	ri, err := firewall.NewRealIP([]firewall.TrustedProxy{
		{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Header: "X-Forwarded-For"},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(ri)
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.1:4711"
	r.Header.Set("Forwarded", "for=192.0.2.10")                 // the client's own: never read
	r.Header.Set("X-Forwarded-For", "192.0.2.10, 198.51.100.7") // nginx appended 198.51.100.7
	fmt.Println(ri.ClientAddr(r))
	r.Header.Set("X-Forwarded-For", "198.51.100.7, unknown") // unreadable: judged as nginx
	fmt.Println(ri.ClientAddr(r))
	// Output:
	// trusted proxies: 10.0.0.0/8 maintains X-Forwarded-For
	// 198.51.100.7 true
	// 10.0.0.1 false
}
