package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"strings"
	"time"

	"github.com/edgekit/edgekit/balancer"
	"github.com/edgekit/edgekit/firewall"
	"github.com/edgekit/edgekit/resolver/authority"
	"github.com/miekg/dns"
)

// The GeoDNS part of the journey: shop.cdn.net is steered per client
// (resolver/authority's Geography policy) between two regions, each with
// its own front door on loopback; the recursive resolver sends each
// client's /24 to the CDN's servers (EDNS Client Subnet, RFC 7871) and
// caches their answers per subnet. Users live on 127.0.1.0/24 ("Berlin")
// and 127.0.2.0/24 ("New York"); everyone else (the journey's browser on
// 127.0.0.1) is of unknown location and gets the default region, eu.
const (
	usDoor   = "127.0.0.21" // the us region's front door; eu's is lbAddr
	euUser   = "127.0.1.10"
	usUser   = "127.0.2.10"
	geoTTL   = 30 * time.Second
	steerTTL = "30s"
)

// geoState is what the GeoDNS part adds to the internet.
type geoState struct {
	health   authority.HealthTable // front doors' verdicts, read by the CDN's zone server
	dnsClock *simClock             // the recursive resolver's clock: TTLs pass without waiting
	usSrv    *http.Server
	checks   *balancer.Pool // TLS checks of the front doors, run on demand
	err      error          // geoWrap's, reported by startGeo
}

// GeoStep is one DNS answer and request of a user in the GeoDNS part.
type GeoStep struct {
	When    string   `json:"when"`
	User    string   `json:"user"`
	Source  string   `json:"source"`
	Answer  []string `json:"dns_answer"`
	Addr    string   `json:"addr"` // the steered A record's address
	TTL     uint32   `json:"ttl"`  // and its TTL, as the resolver gave it
	Door    string   `json:"front_door,omitempty"`
	Status  int      `json:"status,omitempty"`
	Error   string   `json:"error,omitempty"`
	Comment string   `json:"comment,omitempty"`
}

// GeoResult is the GeoDNS part's story.
type GeoResult struct {
	Steps  []GeoStep `json:"steps"`
	Health []string  `json:"health"`
	// MovedAfter is how long US users kept reaching their failed region:
	// the TTL of the answer they held when it failed.
	MovedAfter string `json:"moved_after"`
}

// cdnSteering is the CDN zone's steering: two regions, by country.
func cdnSteering() []authority.Steer {
	return []authority.Steer{{
		Name: cdnName, Policy: authority.Geography, TTL: geoTTL, Default: "eu",
		Pools: []authority.Pool{
			{Name: "eu", Countries: []string{"DE"}, Continents: []string{"EU"}, Lat: 50.1, Lon: 8.7,
				Members: []authority.Member{{Addr: netip.MustParseAddr(lbAddr)}}},
			{Name: "us", Countries: []string{"US"}, Continents: []string{"NA"}, Lat: 39.0, Lon: -77.5,
				Members: []authority.Member{{Addr: netip.MustParseAddr(usDoor)}}},
		},
	}}
}

// geoWrap serves the CDN's zone (on 127.0.0.5) with steering, in place
// of resolvertest's plain zone server.
func (in *internet) geoWrap(addr string, _ *authority.Server) dns.Handler {
	if addr != zones[1].Addr {
		return nil
	}
	z, err := authority.ParseZone(strings.NewReader(zones[1].Text), zones[1].Origin, "cdn.net")
	if err != nil {
		in.geo.err = err
		return nil
	}
	loc, err := authority.NewStaticLocator([]authority.StaticLocation{
		{Network: netip.MustParsePrefix("127.0.1.0/24"), Location: authority.Location{Country: "DE", Continent: "EU"}},
		{Network: netip.MustParsePrefix("127.0.2.0/24"), Location: authority.Location{Country: "US", Continent: "NA"}},
	})
	if err != nil {
		in.geo.err = err
		return nil
	}
	srv, err := authority.New(authority.Config{Zones: []*authority.Zone{z}, Steering: cdnSteering(), Locator: loc, Health: &in.geo.health})
	if err != nil {
		in.geo.err = err
		return nil
	}
	return srv
}

// startGeo opens the us region's front door (the same handler as eu's,
// on the same HTTPS port) and the health checks of both doors.
func (in *internet) startGeo() error {
	if in.geo.err != nil {
		return fmt.Errorf("the CDN's steering: %w", in.geo.err)
	}
	inner, err := net.Listen("tcp", net.JoinHostPort(usDoor, fmt.Sprint(in.httpsPort)))
	if err != nil {
		return err
	}
	ln, err := firewall.NewListener(inner, firewall.ListenerConfig{Filter: in.fw})
	if err != nil {
		inner.Close()
		return err
	}
	tc := &tls.Config{Certificates: in.httpsSrv.TLSConfig.Certificates, NextProtos: []string{"h2", "http/1.1"}}
	in.geo.usSrv = &http.Server{Handler: in.httpsSrv.Handler, TLSConfig: tc,
		ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}
	go in.geo.usSrv.ServeTLS(ln, "", "")
	// The check is a TLS handshake with the door, as a browser's would
	// start (balancer's checks with a Probe of our own).
	probe := func(ctx context.Context, b balancer.Backend) bool {
		d := tls.Dialer{Config: &tls.Config{RootCAs: in.ca, ServerName: "www.shop.com"}}
		c, err := d.DialContext(ctx, "tcp", b.Addr)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	in.geo.checks, err = balancer.New(balancer.Config{Health: balancer.HealthCheck{Timeout: time.Second, Rise: 1, Fall: 1, Probe: probe}})
	if err != nil {
		return err
	}
	for _, a := range []string{lbAddr, usDoor} {
		if err := in.geo.checks.Add(balancer.Backend{ID: a, Addr: net.JoinHostPort(a, fmt.Sprint(in.httpsPort))}); err != nil {
			return err
		}
	}
	return nil
}

func (in *internet) closeGeo() {
	if in.geo.usSrv != nil {
		in.geo.usSrv.Close()
	}
	if in.geo.checks != nil {
		in.geo.checks.Close()
	}
}

// checkDoors runs one round of the front doors' health checks and feeds
// the verdicts to the CDN's zone server; it returns the transitions.
func (in *internet) checkDoors(ctx context.Context) []string {
	in.geo.checks.CheckNow(ctx)
	var out []string
	for _, s := range in.geo.checks.Stats() {
		a := netip.MustParseAddr(s.Backend.ID)
		up := s.State == balancer.Healthy
		if in.geo.health.Healthy(a) != up {
			out = append(out, fmt.Sprintf("%s %s", a, map[bool]string{true: "up", false: "down"}[up]))
		}
		in.geo.health.Set(a, up)
	}
	return out
}

// geoUser resolves www.shop.com as a user at source would (its DNS
// queries and its connections leave from source), then fetches the page.
func (in *internet) geoUser(ctx context.Context, when, user, source string) GeoStep {
	st := GeoStep{When: when, User: user, Source: source}
	resolverAddr := in.recServer.PacketConn.LocalAddr().String()
	// The answer as dig would show it, asked from the user's address.
	c := &dns.Client{Timeout: 2 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(source)}}}
	q := new(dns.Msg)
	q.SetQuestion("www.shop.com.", dns.TypeA)
	if m, _, err := c.ExchangeContext(ctx, q, resolverAddr); err != nil {
		st.Error = err.Error()
		return st
	} else {
		for _, rr := range m.Answer {
			f := strings.Fields(rr.String())
			st.Answer = append(st.Answer, strings.Join(append([]string{f[0], f[1]}, f[3:]...), " "))
			if a, ok := rr.(*dns.A); ok {
				st.Addr, st.TTL = a.A.String(), a.Hdr.Ttl
			}
		}
	}
	// The browser: Go's resolver asking the same resolver from the
	// user's address (net.Resolver's Dial hook), then HTTPS.
	local := net.ParseIP(source)
	res := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		d := net.Dialer{LocalAddr: &net.UDPAddr{IP: local}}
		if strings.HasPrefix(network, "tcp") {
			d.LocalAddr = &net.TCPAddr{IP: local}
		}
		return d.DialContext(ctx, network, resolverAddr)
	}}
	d := &net.Dialer{Resolver: res, LocalAddr: &net.TCPAddr{IP: local}, Timeout: 2 * time.Second}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: d.DialContext,
		TLSClientConfig: &tls.Config{RootCAs: in.ca}, ForceAttemptHTTP2: true, DisableKeepAlives: true}}
	defer client.CloseIdleConnections()
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		st.Door, _, _ = net.SplitHostPort(i.Conn.RemoteAddr().String())
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, fmt.Sprintf("https://www.shop.com:%d/", in.httpsPort), nil)
	resp, err := client.Do(req)
	if err != nil {
		st.Error = shortErr(err)
		return st
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	st.Status = resp.StatusCode
	return st
}

// geoJourney: each region's users reach their own region; the us region
// fails its health checks; its users keep the address they hold until
// its TTL runs out, then move to eu.
func (in *internet) geoJourney(ctx context.Context) *GeoResult {
	g := &GeoResult{}
	g.Health = append(g.Health, in.checkDoors(ctx)...)
	add := func(st GeoStep, comment string) GeoStep {
		st.Comment = comment
		g.Steps = append(g.Steps, st)
		return st
	}
	add(in.geoUser(ctx, "t=0s", "Berlin", euUser), "DE: the eu region")
	add(in.geoUser(ctx, "t=0s", "New York", usUser), "US: the us region")

	in.geo.usSrv.Close() // the us region's front door fails
	for _, h := range in.checkDoors(ctx) {
		g.Health = append(g.Health, "t=0s "+h)
		add(GeoStep{When: "t=0s"}, "health check: "+h+", dropped from the CDN's answers")
	}
	held := add(in.geoUser(ctx, "t=0s", "New York", usUser), "cached answer: the move waits for its TTL")
	in.geo.dnsClock.Advance(time.Duration(held.TTL-1) * time.Second)
	add(in.geoUser(ctx, fmt.Sprintf("t=%ds", held.TTL-1), "New York", usUser), "1 s of TTL left")
	in.geo.dnsClock.Advance(time.Second)
	add(in.geoUser(ctx, fmt.Sprintf("t=%ds", held.TTL), "New York", usUser), "TTL ran out: steered to eu")
	add(in.geoUser(ctx, fmt.Sprintf("t=%ds", held.TTL), "Berlin", euUser), "unaffected")
	g.MovedAfter = fmt.Sprintf("%ds (the TTL of the answer held)", held.TTL)
	return g
}

func printGeo(out io.Writer, g *GeoResult) {
	if g == nil {
		return
	}
	fmt.Fprintln(out, "== 1b. GeoDNS: www.shop.com for users in two regions (the resolver sends their /24, RFC 7871), then the us region fails")
	for _, st := range g.Steps {
		if st.User == "" {
			fmt.Fprintf(out, "  %-6s %s\n", st.When, st.Comment)
			continue
		}
		result := fmt.Sprintf("%d via %s", st.Status, st.Door)
		if st.Error != "" {
			result = st.Error
		}
		fmt.Fprintf(out, "  %-6s %-8s from %-10s  www.shop.com CNAME shop.cdn.net, A %-10s TTL %2d  -> %-20s (%s)\n",
			st.When, st.User, st.Source, st.Addr, st.TTL, result, st.Comment)
	}
	fmt.Fprintf(out, "  US users moved after %s\n\n", g.MovedAfter)
}
