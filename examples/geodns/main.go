// Command geodns serves a zone whose chosen names are steered per client
// (GeoDNS): by country, continent and distance, by measured latency, by
// weight or in failover order, with answers limited to the edges that
// pass active health checks.
//
//	go run ./examples/geodns -zone examples/geodns/testdata/cdn.zone -origin cdn.example. \
//		-steer examples/geodns/testdata/steer.json [-geoip GeoLite2-City.mmdb]
//	dig @127.0.0.1 -p 5354 www.cdn.example +subnet=198.19.0.0/24
//
// -steer FILE is JSON: "steer" lists the steered names with their pools
// (as authority.Steer), "locations" an optional static table of networks
// for clients without -geoip, and "check" the active health check of the
// edges (TCP connect to "port", or HTTP GET of "path"). Health
// transitions are printed as they happen. The -geoip file is reloaded
// when it changes (checked every 10 s) or on SIGHUP; a bad file keeps the
// database loaded before.
package main

import (
	"context"
	"encoding/json"
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

	"github.com/edgekit/edgekit/balancer"
	"github.com/edgekit/edgekit/resolver/authority"
	"github.com/edgekit/edgekit/resolver/authority/geoip"
)

// steerFile is the JSON of -steer.
type steerFile struct {
	Steer []struct {
		Name    string `json:"name"`
		Policy  string `json:"policy"` // geography (default), latency, weighted, failover
		Default string `json:"default"`
		TTL     string `json:"ttl"` // a Go duration; empty means 30s
		Max     int    `json:"max"`
		Pools   []struct {
			Name       string       `json:"name"`
			Countries  []string     `json:"countries"`
			Continents []string     `json:"continents"`
			Lat        float64      `json:"lat"`
			Lon        float64      `json:"lon"`
			Members    []netip.Addr `json:"members"`
			Weights    []int        `json:"weights"`
		} `json:"pools"`
		RTT []struct {
			Network netip.Prefix `json:"network"`
			Pool    string       `json:"pool"`
			MS      float64      `json:"ms"`
		} `json:"rtt"`
	} `json:"steer"`
	Locations []struct {
		Network   netip.Prefix `json:"network"`
		Country   string       `json:"country"`
		Continent string       `json:"continent"`
		Lat       *float64     `json:"lat"`
		Lon       *float64     `json:"lon"`
	} `json:"locations"`
	Check struct {
		Port     uint16 `json:"port"`
		Path     string `json:"path"`
		Interval string `json:"interval"` // empty: no checks, every edge healthy
	} `json:"check"`
}

var policies = map[string]authority.Policy{"": authority.Geography, "geography": authority.Geography,
	"latency": authority.Latency, "weighted": authority.Weighted, "failover": authority.Failover}

// service is a running server: its address, its -geoip database (nil
// without one; reloadGeoIP reads it again) and how to stop it.
type service struct {
	addr  string
	geo   *geoip.File
	close func()
}

// start reads the files named by the flags and serves on listen (UDP and
// TCP). Health transitions are written to out.
func start(listen, zoneFile, origin, steerPath, geoipPath string, out io.Writer) (*service, error) {
	if zoneFile == "" || origin == "" || steerPath == "" {
		return nil, errors.New("-zone, -origin and -steer are required")
	}
	zf, err := os.Open(zoneFile)
	if err != nil {
		return nil, err
	}
	z, err := authority.ParseZone(zf, origin, zoneFile)
	zf.Close()
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(steerPath)
	if err != nil {
		return nil, err
	}
	var cfg steerFile
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", steerPath, err)
	}
	var steers []authority.Steer
	var edges []netip.Addr
	for _, s := range cfg.Steer {
		p, ok := policies[s.Policy]
		if !ok {
			return nil, fmt.Errorf("%s: unknown policy %q", s.Name, s.Policy)
		}
		st := authority.Steer{Name: s.Name, Policy: p, Default: s.Default, Max: s.Max}
		if s.TTL != "" {
			if st.TTL, err = time.ParseDuration(s.TTL); err != nil {
				return nil, fmt.Errorf("%s: ttl: %w", s.Name, err)
			}
		}
		for _, pl := range s.Pools {
			pool := authority.Pool{Name: pl.Name, Countries: pl.Countries, Continents: pl.Continents, Lat: pl.Lat, Lon: pl.Lon}
			for i, a := range pl.Members {
				m := authority.Member{Addr: a}
				if i < len(pl.Weights) {
					m.Weight = pl.Weights[i]
				}
				pool.Members = append(pool.Members, m)
				edges = append(edges, a)
			}
			st.Pools = append(st.Pools, pool)
		}
		for _, r := range s.RTT {
			st.RTT = append(st.RTT, authority.RTT{Network: r.Network, Pool: r.Pool, RTT: time.Duration(r.MS * float64(time.Millisecond))})
		}
		steers = append(steers, st)
	}
	var outMu sync.Mutex // out is written from the health checks and the serving goroutines
	var closers []func()
	cleanup := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	acfg := authority.Config{Zones: []*authority.Zone{z}, Steering: steers}
	var geo *geoip.File
	switch {
	case geoipPath != "":
		if geo, err = geoip.OpenFile(geoipPath); err != nil {
			return nil, err
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); watchGeoIP(ctx, geo, geoipPoll, out) }()
		closers = append(closers, func() { cancel(); <-done })
		acfg.Locator = geo
	case len(cfg.Locations) > 0:
		var table []authority.StaticLocation
		for _, l := range cfg.Locations {
			loc := authority.Location{Country: l.Country, Continent: l.Continent}
			if l.Lat != nil && l.Lon != nil {
				loc.Lat, loc.Lon, loc.Coords = *l.Lat, *l.Lon, true
			}
			table = append(table, authority.StaticLocation{Network: l.Network, Location: loc})
		}
		loc, err := authority.NewStaticLocator(table)
		if err != nil {
			return nil, err
		}
		acfg.Locator = loc
	}
	if cfg.Check.Interval != "" {
		iv, err := time.ParseDuration(cfg.Check.Interval)
		if err != nil || iv <= 0 {
			return nil, fmt.Errorf("check interval %q: want a positive duration", cfg.Check.Interval)
		}
		if cfg.Check.Port == 0 {
			return nil, errors.New("check port is required")
		}
		h, err := newActiveHealth(edges, cfg.Check.Port, balancer.HealthCheck{Interval: iv, Path: cfg.Check.Path, Rise: 1, Fall: 1},
			func(a netip.Addr, up bool) {
				outMu.Lock()
				defer outMu.Unlock()
				state := "down"
				if up {
					state = "up"
				}
				fmt.Fprintf(out, "health: %s %s\n", a, state)
			})
		if err != nil {
			cleanup()
			return nil, err
		}
		closers = append(closers, func() { h.Close() })
		acfg.Health = h
	}
	zs, err := authority.New(acfg)
	if err != nil {
		cleanup()
		return nil, err
	}
	pc, ln, err := listenUDPAndTCP(listen)
	if err != nil {
		cleanup()
		return nil, err
	}
	// The Server's own serving, not a dns.Server: every query is judged
	// by the rules of Answer (a dns.Server answers some itself, without
	// the OPT that RFC 6891 §7 requires).
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, serve := range []func() error{
		func() error { return zs.ServeUDP(ctx, pc) },
		func() error { return zs.ServeTCP(ctx, ln) },
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := serve(); err != nil {
				outMu.Lock()
				defer outMu.Unlock()
				fmt.Fprintln(out, "geodns: serving:", err)
			}
		}()
	}
	closers = append(closers, func() { cancel(); wg.Wait(); pc.Close() })
	return &service{addr: pc.LocalAddr().String(), geo: geo, close: cleanup}, nil
}

func main() {
	listen := flag.String("listen", "127.0.0.1:5354", "UDP and TCP address to serve on")
	zone := flag.String("zone", "", "zone file (RFC 1035 §5)")
	origin := flag.String("origin", "", "the zone's origin, e.g. cdn.example.")
	steer := flag.String("steer", "", "steering configuration (JSON)")
	geo := flag.String("geoip", "", "MaxMind DB file (GeoLite2-Country or -City), reloaded on SIGHUP and when it changes; else the static locations")
	flag.Parse()
	svc, err := start(*listen, *zone, *origin, *steer, *geo, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "geodns:", err)
		os.Exit(2)
	}
	fmt.Println("serving on", svc.addr)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	for s := <-sig; s == syscall.SIGHUP; s = <-sig {
		if svc.geo != nil {
			reloadGeoIP(svc.geo, os.Stdout) // a new MaxMind DB without a restart
		}
	}
	svc.close()
}

// listenUDPAndTCP listens on addr over UDP and TCP with the same port. For
// port 0 it retries until a port is free for both (the port the kernel gave
// the UDP socket may be taken over TCP).
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
