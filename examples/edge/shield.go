package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgekit/edgekit/edge"
	"github.com/edgekit/edgekit/surrogate"
	"github.com/edgekit/edgekit/surrogate/redisbus"
	"go.uber.org/zap"
)

// shieldOptions are the flags of the shield tier (edge.Shield): with
// -shield, a miss goes to the node that owns the object (consistent
// hashing over the live members: -redis's membership, or -peers), and
// only the owner fetches from the origins.
type shieldOptions struct {
	on     *bool
	peers  *string
	secret *string
}

func (o *shieldOptions) register(fs *flag.FlagSet) {
	o.on = fs.Bool("shield", false, "shield tier: a miss goes to the node owning the object (by consistent hashing over the live members of -redis, or -peers), and only that node fetches from the origins")
	o.peers = fs.String("peers", "", "with -shield and no -redis: the fleet as a static list id=host:port,... (this node included, under -node-id)")
	o.secret = fs.String("shield-secret", "", "with -shield: the key, shared by the fleet, that proves a request comes from the tier (default: $EDGE_SHIELD_SECRET, else one shared through -redis)")
}

// shieldFleet is what the shield needs from the rest of the program.
type shieldFleet struct {
	self              string
	origin            http.RoundTripper
	bus               *redisbus.Bus
	redisAddr, master string
	redisTLS          bool
	logger            *zap.Logger
}

// start returns the shield, or nil without -shield.
func (o *shieldOptions) start(ctx context.Context, f shieldFleet) (*edge.Shield, error) {
	if !*o.on {
		if *o.peers != "" || *o.secret != "" {
			return nil, errors.New("-peers and -shield-secret need -shield")
		}
		return nil, nil
	}
	var members surrogate.Members
	switch {
	case f.bus != nil && *o.peers != "":
		return nil, errors.New("-shield takes its members from -redis or from -peers, not both")
	case f.bus != nil:
		members = f.bus
	case *o.peers != "":
		var static surrogate.StaticMembers
		for _, p := range strings.Split(*o.peers, ",") {
			id, addr, ok := strings.Cut(strings.TrimSpace(p), "=")
			if !ok || id == "" || addr == "" {
				return nil, fmt.Errorf("-peers: %q is not id=host:port", p)
			}
			if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
				return nil, fmt.Errorf("-peers: %q: the address is not host:port", p)
			} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				return nil, fmt.Errorf("-peers: %q: the port is not 1-65535", p)
			}
			if slices.ContainsFunc(static, func(m surrogate.Member) bool { return m.ID == id }) {
				return nil, fmt.Errorf("-peers: the ID %q is named twice", id)
			}
			static = append(static, surrogate.Member{ID: id, Addr: addr})
		}
		members = static
	default:
		return nil, errors.New("-shield needs the fleet's members: -redis or -peers")
	}
	secret := *o.secret
	if secret == "" {
		secret = os.Getenv("EDGE_SHIELD_SECRET")
	}
	if secret == "" && f.bus != nil {
		s, err := sharedSecret(ctx, f)
		if err != nil {
			return nil, err
		}
		secret = s
	}
	if secret == "" {
		return nil, errors.New("-shield with -peers needs -shield-secret (or $EDGE_SHIELD_SECRET), the same on every node")
	}
	return edge.NewShield(edge.ShieldConfig{Self: f.self, Members: members, Origin: f.origin, Secret: secret, Logger: f.logger})
}

// sharedSecret returns the fleet's shield secret kept in Redis, creating
// it if this node is the first (SET NX): nodes that share the purge bus
// share it. Anyone who can write to that Redis can purge the fleet too.
func sharedSecret(ctx context.Context, f shieldFleet) (string, error) {
	rdb, err := redisClient(f.redisAddr, f.master, f.redisTLS)
	if err != nil {
		return "", err
	}
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	b := make([]byte, 32)
	rand.Read(b)
	const key = "{edgekit}:shield-secret"
	if err := rdb.SetNX(ctx, key, hex.EncodeToString(b), 0).Err(); err != nil {
		return "", fmt.Errorf("-shield: shared secret: %w", err)
	}
	s, err := rdb.Get(ctx, key).Result()
	if err != nil {
		return "", fmt.Errorf("-shield: shared secret: %w", err)
	}
	return s, nil
}

// shieldStats is the shield's part of /.edge/stats: its counters and,
// for each ?owner=URL, the member owning that URL now.
func shieldStats(sh *edge.Shield, r *http.Request) any {
	v := map[string]any{"stats": sh.Stats()}
	if urls := r.URL.Query()["owner"]; len(urls) > 0 {
		owners := map[string]string{}
		for _, raw := range urls {
			u, err := url.Parse(raw)
			if err != nil || u.Host == "" {
				owners[raw] = "bad URL"
				continue
			}
			if m, ok := sh.Owner(strings.ToLower(u.Host) + u.RequestURI()); ok {
				owners[raw] = m.ID
			}
		}
		v["owners"] = owners
	}
	return v
}
