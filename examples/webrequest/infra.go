package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgekit/edgekit/balancer"
	"github.com/edgekit/edgekit/edge"
	"github.com/edgekit/edgekit/firewall"
	"github.com/edgekit/edgekit/origin"
	"github.com/edgekit/edgekit/resolver"
	"github.com/edgekit/edgekit/resolver/resolvertest"
)

// simClock is the journey's simulated time for caches and origins, so
// freshness and stale-if-error happen without waiting.
type simClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *simClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *simClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

const (
	site    = "shop.com."
	cdnName = "shop.cdn.net."
	lbAddr  = "127.0.0.20"
)

// internet is everything the journey runs: DNS hierarchy, resolvers,
// origins, edge nodes, load balancer and firewall, all on loopback.
type internet struct {
	clock   *simClock
	geo     geoState // GeoDNS (geo.go)
	metrics *metrics // the journey's own Prometheus registry

	dnsPort   int
	dnsStop   func()
	recursive *resolver.Recursive
	recServer *udpServing         // the recursive resolver's Server on UDP
	stub      *resolver.Recursive // the browser/OS cache: forwards to recursive
	trace     []resolver.Step
	traceMu   sync.Mutex

	origins   [2]*originServer
	pool      *origin.Pool
	redisAddr string // -redis: the edges' purge bus in Redis (empty: in process)
	buses     *purgeBuses
	nodes     []*edge.Node
	nodeSrvs  []*http.Server
	nodeAddrs []string

	fw          *firewall.Firewall
	apiLimiter  *firewall.Limiter
	lbHandler   atomic.Pointer[http.Handler]
	httpSrv     *http.Server
	httpsSrv    *http.Server
	httpPort    int
	httpsPort   int
	ca          *x509.CertPool
	lbListeners []*firewall.Listener
}

type originServer struct {
	region string
	srv    *http.Server
	addr   string
	hits   atomic.Int64
}

func (in *internet) close() {
	in.closeGeo()
	if in.httpSrv != nil {
		in.httpSrv.Close()
	}
	if in.httpsSrv != nil {
		in.httpsSrv.Close()
	}
	for _, s := range in.nodeSrvs {
		s.Close()
	}
	for _, n := range in.nodes {
		n.Close()
	}
	in.buses.close()
	if in.pool != nil {
		in.pool.Close()
	}
	for _, o := range in.origins {
		if o != nil {
			o.srv.Close()
		}
	}
	if in.stub != nil {
		in.stub.Close()
	}
	if in.recServer != nil {
		in.recServer.Shutdown()
	}
	if in.recursive != nil {
		in.recursive.Close()
	}
	if in.dnsStop != nil {
		in.dnsStop()
	}
}

// zones are the site's and the CDN's own zones; resolvertest serves them
// under a ready-made root (127.0.0.2) and com./net. TLDs (127.0.0.3).
var zones = []resolvertest.ZoneFile{
	{Addr: "127.0.0.4", Origin: "shop.com.", Text: `$TTL 300
shop.com. IN SOA ns1.shop.com. admin.shop.com. 1 7200 3600 1209600 60
shop.com. IN NS ns1.shop.com.
ns1 IN A 127.0.0.4
www IN CNAME shop.cdn.net.
`},
	{Addr: "127.0.0.5", Origin: "cdn.net.", Text: `$TTL 60
cdn.net. IN SOA ns.cdn.net. admin.cdn.net. 1 7200 3600 1209600 30
cdn.net. IN NS ns.cdn.net.
ns IN A 127.0.0.5
`}, // shop.cdn.net is steered per region: cdnSteering (geo.go)

}

// startDNS serves the zones, and the root and TLDs above them, on
// 127.0.0.2-5, all on one port.
func (in *internet) startDNS() error {
	l, err := resolvertest.New(resolvertest.Config{Files: zones, Delegate: true, Rotate: true, Wrap: in.geoWrap})
	if err != nil {
		return err
	}
	in.dnsPort, in.dnsStop = l.Port, l.Close
	return nil
}

// startResolvers runs the recursive resolver (serving DNS on loopback,
// like an ISP's) and the browser's stub cache that forwards to it.
func (in *internet) startResolvers() error {
	var err error
	in.recursive, err = resolver.New(resolver.Config{
		Roots:         []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr(resolvertest.RootAddr), uint16(in.dnsPort))},
		Port:          in.dnsPort,
		AllowLoopback: true,
		Timeout:       time.Second,
		Now:           in.geo.dnsClock.Now,
		ECS:           resolver.ECSConfig{Zones: []string{"cdn.net."}}, // clients' /24 to the CDN (geo.go)
		Trace: func(s resolver.Step) {
			in.traceMu.Lock()
			in.trace = append(in.trace, s)
			in.traceMu.Unlock()
		},
	})
	if err != nil {
		return err
	}
	srv, err := resolver.NewServer(resolver.ServerConfig{Resolver: in.recursive})
	if err != nil {
		return err
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	// The Server's own UDP serving, not a dns.Server: a dns.Server answers
	// some malformed queries itself, without the OPT RFC 6891 §7 requires.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.ServeUDP(ctx, pc) }()
	in.recServer = &udpServing{PacketConn: pc, stop: func() { cancel(); <-done; pc.Close() }}
	// The hierarchy is unsigned and private: a forwarder validates by
	// default with the IANA trust anchors, and would find it bogus.
	in.stub, err = resolver.New(resolver.Config{Forward: []string{pc.LocalAddr().String()}, Timeout: time.Second, DisableDNSSEC: true})
	return err
}

func (in *internet) takeTrace() []resolver.Step {
	in.traceMu.Lock()
	defer in.traceMu.Unlock()
	t := in.trace
	in.trace = nil
	return t
}

// startOrigins runs the site's two origins, in two regions.
func (in *internet) startOrigins() error {
	for i, region := range []string{"eu-west", "us-east"} {
		o := &originServer{region: region}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:0", 30+i))
		if err != nil {
			return err
		}
		o.addr = ln.Addr().String()
		o.srv = &http.Server{Handler: in.siteHandler(o), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}
		go o.srv.Serve(ln)
		in.origins[i] = o
	}
	var err error
	in.pool, err = origin.New(origin.Config{
		Origins: []origin.Origin{
			{Name: "eu-west", URL: "http://" + in.origins[0].addr, Region: "eu-west", Priority: 0},
			{Name: "us-east", URL: "http://" + in.origins[1].addr, Region: "us-east", Priority: 1},
		},
		TryTimeout: 2 * time.Second, EjectAfter: 1, EjectBase: time.Hour,
	})
	return err
}

// siteHandler serves the shop: a page referencing assets, and articles
// tagged with surrogate keys.
func (in *internet) siteHandler(o *originServer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.hits.Add(1)
		h := w.Header()
		h.Set("Date", in.clock.Now().UTC().Format(http.TimeFormat))
		h.Set("X-Origin-Region", o.region)
		h.Set("Cache-Control", "max-age=60, stale-if-error=600")
		keys := []string{"site"}
		switch {
		case r.URL.Path == "/":
			h.Set("Content-Type", "text/html; charset=utf-8")
			h.Set("Surrogate-Key", "site home")
			io.WriteString(w, `<!doctype html><html><head><title>shop.com</title>
<link rel="stylesheet" href="/static/style.css"><script src="/static/app.js"></script></head>
<body><h1>shop.com</h1><img src="/img/logo.png"><img src="/img/hero.jpg">
<a href="/articles/123">Match report</a></body></html>`)
			return
		case strings.HasPrefix(r.URL.Path, "/static/"), strings.HasPrefix(r.URL.Path, "/img/"):
			keys = append(keys, "assets")
		case strings.HasPrefix(r.URL.Path, "/articles/"):
			id, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/articles/"))
			keys = append(keys, "article-"+strconv.Itoa(id))
			if id%3 == 0 {
				keys = append(keys, "sports")
			}
		case r.URL.Path == "/api/search":
			h.Set("Cache-Control", "no-store")
		}
		h.Set("Surrogate-Key", strings.Join(keys, " "))
		fmt.Fprintf(w, "%s from %s\n", r.URL.Path, o.region)
	})
}

// startEdges runs n edge nodes with independent caches and a shared
// purge bus (see purgeBuses), each on its own loopback address.
func (in *internet) startEdges(n int) error {
	var err error
	if in.buses, err = newPurgeBuses(in.redisAddr, n); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		node, err := edge.New(edge.Config{
			Name: fmt.Sprintf("edge-%d", i+1), Origin: in.pool, Bus: in.buses.bus(i), XCache: true,
			MaxBytes: 16 << 20, StaleIfError: 10 * time.Minute, Now: in.clock.Now, Trace: in.metrics.edgeTrace(),
		})
		if err != nil {
			return err
		}
		if err := in.metrics.watch(fmt.Sprintf("edge-%d", i+1), node); err != nil {
			return err
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:0", 11+i))
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: node, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}
		go srv.Serve(ln)
		in.nodes = append(in.nodes, node)
		in.nodeSrvs = append(in.nodeSrvs, srv)
		in.nodeAddrs = append(in.nodeAddrs, ln.Addr().String())
	}
	return nil
}

// useBalancer points the load balancer at the edges with a policy.
func (in *internet) useBalancer(policy balancer.Policy) (*balancer.Pool, error) {
	pool, err := balancer.New(balancer.Config{Policy: policy})
	if err != nil {
		return nil, err
	}
	for i, a := range in.nodeAddrs {
		pool.Add(balancer.Backend{ID: fmt.Sprintf("edge-%d", i+1), Addr: a})
	}
	px, err := balancer.NewProxy(balancer.ProxyConfig{Pool: pool, Key: func(r *http.Request) string { return r.URL.Path }})
	if err != nil {
		return nil, err
	}
	var h http.Handler = px
	in.lbHandler.Store(&h)
	return pool, nil
}

// startFrontDoor runs the CDN's public entry on 127.0.0.20: HTTP that
// redirects to HTTPS, and HTTPS (HTTP/2 where negotiated) with a
// certificate made here; both behind the firewall.
func (in *internet) startFrontDoor() error {
	rs, err := firewall.ParseRules(strings.NewReader("policy allow\ndeny 127.0.0.66\n"))
	if err != nil {
		return err
	}
	if in.fw, err = firewall.New(firewall.Config{Rules: rs}); err != nil {
		return err
	}
	if in.apiLimiter, err = firewall.NewLimiter(firewall.LimiterConfig{Rate: 2, Burst: 5, Now: in.clock.Now}); err != nil {
		return err
	}
	listen := func() (*firewall.Listener, int, error) {
		inner, err := net.Listen("tcp", lbAddr+":0")
		if err != nil {
			return nil, 0, err
		}
		l, err := firewall.NewListener(inner, firewall.ListenerConfig{Filter: in.fw})
		in.lbListeners = append(in.lbListeners, l)
		return l, inner.Addr().(*net.TCPAddr).Port, err
	}
	httpLn, httpPort, err := listen()
	if err != nil {
		return err
	}
	httpsLn, httpsPort, err := listen()
	if err != nil {
		return err
	}
	in.httpPort, in.httpsPort = httpPort, httpsPort
	cert, pool, err := makeCert([]string{"www.shop.com", "shop.cdn.net"})
	if err != nil {
		return err
	}
	in.ca = pool
	guardFilter, err := firewall.NewHTTPFilter(firewall.HTTPConfig{Filter: in.fw})
	if err != nil {
		return err
	}
	apiFilter, err := firewall.NewHTTPFilter(firewall.HTTPConfig{Limiter: in.apiLimiter})
	if err != nil {
		return err
	}
	guard, apiGuard := guardFilter.Wrap, apiFilter.Wrap
	lb := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*in.lbHandler.Load()).ServeHTTP(w, r) })
	mux := http.NewServeMux()
	mux.Handle("/api/", apiGuard(lb))
	mux.Handle("/", lb)
	in.httpsSrv = &http.Server{Handler: guard(mux), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}}
	go in.httpsSrv.ServeTLS(httpsLn, "", "")
	in.httpSrv = &http.Server{ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second, Handler: guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		http.Redirect(w, r, fmt.Sprintf("https://%s:%d%s", host, httpsPort, r.URL.RequestURI()), http.StatusMovedPermanently)
	}))}
	go in.httpSrv.Serve(httpLn)
	return nil
}

// makeCert returns a certificate for names signed by a fresh CA, and a
// pool holding that CA for the browser to trust.
func makeCert(names []string) (tls.Certificate, *x509.CertPool, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "edgekit demo CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool, nil
}

// browser returns an HTTP client that resolves names through the stub
// resolver (the SDK's net.Resolver hook), trusts the demo CA, negotiates
// HTTP/2, and connects from the given loopback source address.
func (in *internet) browser(source string) *http.Client {
	d := &net.Dialer{Resolver: resolver.NetResolver(in.stub), Timeout: 3 * time.Second}
	if source != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(source)}
	}
	tr := &http.Transport{
		DialContext:         d.DialContext,
		TLSClientConfig:     &tls.Config{RootCAs: in.ca},
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 16,
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func (in *internet) clearEdgeCaches(ctx context.Context) {
	for _, n := range in.nodes {
		n.Purge(ctx, edge.PurgeRequest{All: true})
	}
	in.buses.flush(ctx)
}

// udpServing is a resolver.Server serving UDP on PacketConn until Shutdown.
type udpServing struct {
	PacketConn net.PacketConn
	stop       func()
}

// Shutdown stops serving, waits for the replies in progress and closes
// the socket.
func (u *udpServing) Shutdown() { u.stop() }
