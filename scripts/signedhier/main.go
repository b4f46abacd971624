// Command signedhier serves a DNSSEC-signed loopback hierarchy for load
// tests of validating resolvers (scripts/bench-resolver.sh with DNSSEC=1):
// a signed root on 127.0.0.2, com. on 127.0.0.3 and example.com. on
// 127.0.0.4 (ECDSA P-256, NSEC), with names h1-h1000.wild.example.com. (the
// cached workload), a wildcard *.wild.example.com. (the miss workload: each
// new name an expansion with its NSEC proof) and an unsigned delegation
// plain.com. on 127.0.0.5, all on -port (53: Unbound
// sends referred queries to port 53 only). It writes the root's DS to
// -anchor, the trust anchor both resolvers are given, and serves until
// SIGINT or SIGTERM.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/edgekit/edgekit/resolver/resolvertest"
)

const zone = `$TTL 3600
@ IN SOA ns admin 1 7200 3600 1209600 300
@ IN NS ns
ns IN A %s
www IN A 192.0.2.80
*.wild IN A 192.0.2.81
`

func main() {
	port := flag.Int("port", 53, "port of every server")
	anchor := flag.String("anchor", "anchor.ds", "file to write the root's DS (the trust anchor) to")
	flag.Parse()
	h, anchors, err := resolvertest.NewSigned(resolvertest.SignedConfig{Port: *port, Zones: []resolvertest.SignedZoneFile{
		{ZoneFile: resolvertest.ZoneFile{Addr: "127.0.0.4", Origin: "example.com.", Text: sprintf(zone, "127.0.0.4") + names(1000)}},
		{ZoneFile: resolvertest.ZoneFile{Addr: "127.0.0.5", Origin: "plain.com.", Text: sprintf(zone, "127.0.0.5")}, Unsigned: true},
	}})
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	if err := os.WriteFile(*anchor, []byte(anchors[0].String()+"\n"), 0o644); err != nil {
		log.Fatal(err)
	}
	log.Printf("signed hierarchy on port %d, trust anchor in %s", h.Port, *anchor)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
}

func sprintf(format, addr string) string { return strings.ReplaceAll(format, "%s", addr) }

// names returns n records h1.wild ... hn.wild.
func names(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "h%d.wild IN A 192.0.2.82\n", i)
	}
	return b.String()
}
