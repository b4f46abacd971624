package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/edgekit/edgekit/resolver"
	"github.com/edgekit/edgekit/resolver/dnssec"
	"github.com/edgekit/edgekit/resolver/resolvertest"
	"github.com/miekg/dns"
)

// dnssecOpts are the DNSSEC flags: validation is on by default with the
// IANA roots (their trust anchors built in); -roots needs -trust-anchor
// to validate a private hierarchy.
// Forwarding (-forward) validates too, the chain of trust asked of the
// upstreams; -domain-insecure exempts a private unsigned zone they serve.
type dnssecOpts struct {
	anchorFile *string
	on         *bool
	insecure   *listFlag
}

func dnssecFlags(fs *flag.FlagSet) dnssecOpts {
	o := dnssecOpts{
		anchorFile: fs.String("trust-anchor", "", "DNSSEC trust anchors file (DS or DNSKEY records; default: the IANA root KSKs; needed to validate a -roots hierarchy)"),
		on:         fs.Bool("dnssec", true, "validate DNSSEC, recursing or forwarding (bogus answers become SERVFAIL with an Extended DNS Error)"),
		insecure:   &listFlag{},
	}
	fs.Var(o.insecure, "domain-insecure", "treat answers at and below this name as unsigned, as Unbound's domain-insecure (repeatable; e.g. a private zone behind -forward)")
	return o
}

// apply sets cfg's DNSSEC fields from the flags.
func (o dnssecOpts) apply(cfg *resolver.Config) error {
	cfg.DisableDNSSEC = !*o.on
	cfg.InsecureDomains = *o.insecure
	if *o.anchorFile == "" {
		return nil
	}
	f, err := os.Open(*o.anchorFile)
	if err != nil {
		return fmt.Errorf("-trust-anchor: %w", err)
	}
	defer f.Close()
	anchors, err := dnssec.ParseAnchors(f, *o.anchorFile)
	if err != nil {
		return fmt.Errorf("-trust-anchor: %w", err)
	}
	cfg.TrustAnchors = anchors
	return nil
}

// runDNSSECDemo signs a small hierarchy at start (root, com., a signed
// zone, a zone whose server forges answers, an unsigned zone), serves a
// validating resolver for it on loopback and asks it as dig +dnssec
// would: the signed answer comes with AD, the forged one is SERVFAIL
// with its Extended DNS Error (RFC 8914), the unsigned one is answered
// without AD (an insecure delegation, proven by the NSEC of com.).
func runDNSSECDemo(ctx context.Context, out io.Writer) error {
	zone := func(origin, addr string) string {
		return strings.ReplaceAll("$TTL 300\n@ IN SOA ns.@ admin.@ 1 7200 3600 1209600 60\n@ IN NS ns.@\nns.@ IN A "+addr+"\nwww.@ IN A 192.0.2.80\n", "@", origin)
	}
	forge := func(h dns.Handler) dns.Handler {
		return dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) { h.ServeDNS(forger{w}, req) })
	}
	h, anchors, err := resolvertest.NewSigned(resolvertest.SignedConfig{Zones: []resolvertest.SignedZoneFile{
		{ZoneFile: resolvertest.ZoneFile{Addr: "127.0.0.6", Origin: "signed.com.", Text: zone("signed.com.", "127.0.0.6")}, Signing: resolvertest.Signing{Algorithm: dns.ED25519}},
		{ZoneFile: resolvertest.ZoneFile{Addr: "127.0.0.7", Origin: "forged.com.", Text: zone("forged.com.", "127.0.0.7")}, Wrap: forge},
		{ZoneFile: resolvertest.ZoneFile{Addr: "127.0.0.8", Origin: "unsigned.com.", Text: zone("unsigned.com.", "127.0.0.8")}, Unsigned: true},
	}})
	if err != nil {
		return err
	}
	defer h.Close()
	r, err := resolver.New(resolver.Config{Roots: h.Roots(), Port: h.Port, AllowLoopback: true, TrustAnchors: anchors, Timeout: time.Second})
	if err != nil {
		return err
	}
	defer r.Close()
	srv, err := resolver.NewServer(resolver.ServerConfig{Resolver: r})
	if err != nil {
		return err
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer pc.Close()
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.ServeUDP(sctx, pc) }()
	defer func() { stop(); <-done }()
	fmt.Fprintf(out, "\nDNSSEC: a signed hierarchy on port %d (trust anchor %s)\n", h.Port, strings.Join(strings.Fields(anchors[0].String()), " "))
	for _, name := range []string{"www.signed.com.", "www.forged.com.", "www.unsigned.com.", "nope.signed.com."} {
		q := new(dns.Msg)
		q.SetQuestion(name, dns.TypeA)
		q.SetEdns0(1232, true)
		m, _, err := (&dns.Client{Timeout: 5 * time.Second}).ExchangeContext(ctx, q, pc.LocalAddr().String())
		if err != nil {
			return err
		}
		line := fmt.Sprintf(";; %s A: %s, ad=%v", name, dns.RcodeToString[m.Rcode], m.AuthenticatedData)
		for _, rr := range m.Answer {
			line += ", " + strings.Join(strings.Fields(rr.String()), " ")
		}
		if o := m.IsEdns0(); o != nil {
			for _, e := range o.Option {
				if ede, ok := e.(*dns.EDNS0_EDE); ok {
					line += fmt.Sprintf(", EDE %d (%s): %s", ede.InfoCode, dns.ExtendedErrorCodeToString[ede.InfoCode], ede.ExtraText)
				}
			}
		}
		fmt.Fprintln(out, line)
	}
	return nil
}

// forger changes the address of every A record it answers.
type forger struct{ dns.ResponseWriter }

func (f forger) WriteMsg(m *dns.Msg) error {
	for _, rr := range m.Answer {
		if a, ok := rr.(*dns.A); ok {
			a.A = net.IPv4(203, 0, 113, 66)
		}
	}
	return f.ResponseWriter.WriteMsg(m)
}
