// Command resolver serves a recursive, caching DNS resolver.
//
//	go run ./examples/resolver -listen 127.0.0.1:5353
//	dig @127.0.0.1 -p 5353 www.example.com
//
// -roots FILE takes root hints in zone-file form (NS records for "." and
// the servers' A/AAAA records; queries go to port 53 of those addresses,
// or -port); otherwise the IANA root servers are used. -allow-loopback
// lets it use name servers on loopback and private addresses (private
// hierarchies, tests). -forward ADDR (repeatable; tls://ADDR for DNS over
// TLS) makes it a forwarder instead.
//
// With -demo it starts a small root -> TLD -> authoritative hierarchy on
// loopback addresses in-process, resolves a few names through it printing
// every referral step like dig +trace, then a signed hierarchy: a signed
// answer validated (AD), a forged one rejected (SERVFAIL with its
// Extended DNS Error) and an unsigned delegation proven insecure.
//
// DNSSEC validation is on by default with the IANA roots, recursing or
// forwarding (-forward: the chain of trust is asked of the upstreams);
// -trust-anchor FILE (DS or DNSKEY records) validates a -roots hierarchy,
// or a private signed one behind -forward; -domain-insecure NAME exempts a
// private unsigned zone; -dnssec=false turns it off.
//
// Observability (observe.go): -metrics ADDR serves /metrics, /healthz and
// /readyz (and /debug/pprof/ with -pprof) on loopback unless
// -metrics-token is set. See docs/observability.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/edgekit/edgekit/internal/cmdline"

	"github.com/edgekit/edgekit/resolver"
	"github.com/miekg/dns"
	"go.uber.org/zap"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// cli runs the command and says on stderr how it ended: -h prints the
// usage and returns 0; a bad command line prints its error once, then the
// usage, and returns 2; a failure prints one line and returns 2.
func cli(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return cmdline.Report(stderr, "resolver", run(ctx, args, stdout, nil))
}

func run(ctx context.Context, args []string, out io.Writer, ready chan<- string) error {
	fs := flag.NewFlagSet("resolver", flag.ContinueOnError)
	var forward, allow listFlag
	var tlsOpts tlsOptions // -listen-tls, -listen-https: tls.go
	tlsOpts.register(fs)
	listen := fs.String("listen", "127.0.0.1:5353", "address to serve DNS on (UDP and TCP)")
	roots := fs.String("roots", "", "root hints file in zone-file form (default: the IANA root servers)")
	port := fs.Int("port", 53, "port of name servers (root hints and referrals)")
	allowLoopback := fs.Bool("allow-loopback", false, "allow name servers on loopback and private addresses")
	fs.Var(&forward, "forward", "forward to this resolver instead of recursing (repeatable; tls://ip:port for DNS over TLS)")
	fs.Var(&allow, "allow", "client network allowed to query (repeatable CIDR; default loopback only)")
	cacheBytes := fs.Int64("cache-bytes", 32<<20, "cache size in bytes")
	timeout := fs.Duration("timeout", 1500*time.Millisecond, "timeout of one query to one server")
	prefetch := fs.Bool("prefetch", true, "refresh popular entries before they expire")
	demo := fs.Bool("demo", false, "resolve through an in-process loopback hierarchy, print the referral steps, and exit")
	verbose := fs.Bool("v", false, "log debug events")
	ecs := ecsFlags(fs)
	var obs observer
	obs.register(fs)
	dnssecOpt := dnssecFlags(fs) // -trust-anchor, -dnssec (dnssec.go)
	if err := cmdline.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *port < 1 || *port > 65535 || *cacheBytes <= 0 || *timeout <= 0 {
		return errors.New("-port must be 1-65535; -cache-bytes and -timeout positive")
	}
	if err := tlsOpts.check(); err != nil {
		return err
	}
	if *demo {
		return runDemo(ctx, out)
	}
	if err := obs.start(ctx, out); err != nil {
		return err
	}
	defer obs.close()
	cfg := resolver.Config{Port: *port, AllowLoopback: *allowLoopback, Forward: forward, MaxBytes: *cacheBytes, Timeout: *timeout, Prefetch: *prefetch}
	ecsCfg, err := ecs()
	if err != nil {
		return err
	}
	cfg.ECS = ecsCfg
	// Warnings (root hints the resolver may not use, no root server
	// answering) always reach stderr; -v adds the debug events.
	logCfg := zap.NewDevelopmentConfig()
	logCfg.DisableStacktrace = true
	if !*verbose {
		logCfg.Level = zap.NewAtomicLevelAt(zap.WarnLevel)
	}
	l, err := logCfg.Build()
	if err != nil {
		return err
	}
	cfg.Logger = l
	if *roots != "" {
		hints, err := readRoots(*roots, *port)
		if err != nil {
			return err
		}
		cfg.Roots = hints
	}
	if err := dnssecOpt.apply(&cfg); err != nil {
		return err
	}
	var prefixes []netip.Prefix
	for _, a := range allow {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			return fmt.Errorf("-allow %q: %v", a, err)
		}
		prefixes = append(prefixes, p)
	}
	obs.configure(&cfg)
	r, err := resolver.New(cfg)
	if err != nil {
		return err
	}
	defer r.Close()
	if err := obs.watch(r); err != nil {
		return err
	}
	srv, err := resolver.NewServer(resolver.ServerConfig{Resolver: r, Allow: prefixes})
	if err != nil {
		return err
	}
	pc, ln, err := listenUDPAndTCP(*listen)
	if err != nil {
		return err
	}
	// UDP: the Server's own read loops (cache hits answered inline, no
	// goroutine per packet). TCP: its ServeTCP (pipelined queries answered
	// concurrently, out of order, RFC 7766).
	serveCtx, stopServing := context.WithCancel(ctx)
	defer stopServing()
	errc := make(chan error, 2)
	var serving sync.WaitGroup
	if err := tlsOpts.start(serveCtx, &serving, out, l, srv); err != nil {
		pc.Close()
		ln.Close()
		return err
	}
	serving.Add(2)
	go func() {
		defer serving.Done()
		if err := srv.ServeUDP(serveCtx, pc); err != nil {
			errc <- err
		}
	}()
	go func() {
		defer serving.Done()
		if err := srv.ServeTCP(serveCtx, ln); err != nil {
			errc <- err
		}
	}()
	mode := "recursive from the IANA roots"
	switch {
	case len(forward) > 0:
		mode = "forwarding to " + strings.Join(forward, ", ")
	case *roots != "":
		mode = fmt.Sprintf("recursive from %d root servers in %s", len(cfg.Roots), *roots)
	}
	fmt.Fprintf(out, "resolver listening on %s (udp, tcp), %s\n", pc.LocalAddr(), mode)
	fmt.Fprintln(out, clientsNote(pc.LocalAddr().String(), allow))
	if ready != nil {
		ready <- pc.LocalAddr().String()
	}
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	// Stop reading, then end the resolutions in progress (answered
	// SERVFAIL) instead of waiting out their upstream timeouts.
	stopServing()
	r.Close()
	serving.Wait()
	pc.Close()
	st := r.Stats()
	fmt.Fprintf(out, "served %d queries: %d cache hits, %d upstream queries, %d SERVFAIL, %d stale\n",
		st.Queries, st.CacheHits, st.Upstream, st.ServFails, st.StaleServed)
	return err
}

// clientsNote says which clients are answered: loopback only unless
// -allow names networks (then only those), which matters most when the
// listen address is not loopback.
func clientsNote(listen string, allow []string) string {
	if len(allow) > 0 {
		return "clients answered: " + strings.Join(allow, ", ") + " (-allow); others are refused"
	}
	if ap, err := netip.ParseAddrPort(listen); err == nil && !ap.Addr().Unmap().IsLoopback() {
		return "clients answered: loopback only, although listening on " + listen + "; others are refused (-allow CIDR admits a network)"
	}
	return "clients answered: loopback only (-allow CIDR admits a network)"
}

// listenUDPAndTCP listens on addr over UDP and TCP with the same port. For
// port 0 it retries until a port is free for both.
func listenUDPAndTCP(addr string) (net.PacketConn, net.Listener, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, err
	}
	for attempt := 0; ; attempt++ {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, err
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		if port != "0" || attempt >= 20 {
			return nil, nil, err
		}
	}
}

// readRoots reads root hints: every A and AAAA record in the file is a
// root server address.
func readRoots(path string, port int) ([]netip.AddrPort, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zp := dns.NewZoneParser(f, ".", path)
	var out []netip.AddrPort
	sawNS := false
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		switch v := rr.(type) {
		case *dns.NS:
			sawNS = true
		case *dns.A:
			a, _ := netip.AddrFromSlice(v.A.To4())
			out = append(out, netip.AddrPortFrom(a, uint16(port)))
		case *dns.AAAA:
			a, _ := netip.AddrFromSlice(v.AAAA)
			out = append(out, netip.AddrPortFrom(a, uint16(port)))
		}
	}
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("root hints %s: %v", path, err)
	}
	if len(out) == 0 || !sawNS {
		return nil, fmt.Errorf("root hints %s: need NS records and at least one A or AAAA record", path)
	}
	return out, nil
}
