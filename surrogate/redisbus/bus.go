package redisbus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgekit/edgekit/surrogate"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// Config configures a Bus. Client is required, and Node for a Bus that
// subscribes; every other zero value is a documented default.
// A plain value: set it up before use and do not change it while in use.
type Config struct {
	// Client reaches Redis: redis.NewUniversalClient gives a single
	// server, a Sentinel-managed one (MasterName) or a Cluster, and its
	// options carry AUTH (Password), an ACL user (Username) and TLS
	// (TLSConfig). The Bus does not close it. Required.
	Client redis.UniversalClient
	// Node names this node in the fleet: its heartbeat and its
	// acknowledgements. Unique per fleet; required to Subscribe.
	Node string
	// Advertise is the address other nodes reach this one on
	// (host:port), published with its heartbeat. Empty means none.
	Advertise string
	// Fleet names the fleet; its keys share the hash tag {Fleet}, so
	// they sit on one Cluster slot. Empty means "edgekit".
	Fleet string
	// MaxLen bounds the purge log (XADD MAXLEN ~): a node away for longer
	// than this many purges cannot catch up and marks everything stale.
	// Zero means 100000.
	MaxLen int64
	// AckTimeout bounds how long PublishAck waits for every live node.
	// Zero means 5 s. Keep it above Heartbeat: a node missing at the
	// deadline is told lagging from unreachable by a heartbeat since the
	// purge.
	AckTimeout time.Duration
	// Heartbeat is how often a subscribed node announces itself. Zero
	// means 1 s.
	Heartbeat time.Duration
	// MemberTTL is how long after its last heartbeat a node counts as
	// live; a node that stops heartbeating leaves the live set within it.
	// Zero means 3 × Heartbeat.
	MemberTTL time.Duration
	// Block is how long one read waits for new purges (XREAD BLOCK); it
	// also bounds how often an idle node confirms it is in sync and how
	// long Unsubscribe and Close may wait for the read in flight. Zero
	// means 1 s.
	Block time.Duration
	// Retry is the first pause after a failed read; it doubles up to 2 s.
	// Zero means 50 ms.
	Retry time.Duration
	// WaitReplicas, if positive, makes every publish wait after appending
	// until that many replicas hold the purge (WAIT on the connection
	// that appended it), up to AckTimeout. Redis replicates
	// asynchronously: a master that dies right after a write takes it
	// along, and the replica that Sentinel promotes never had it, so
	// without this a purge Publish reported published can be lost by a
	// failover, silently (no node saw it; the log's sequence has no gap).
	// Fewer replicas in time is ErrNotReplicated: the purge is in the
	// log and will usually be applied, and publishing it again is
	// harmless. Zero means no wait. It needs a single-server or Sentinel
	// client (*redis.Client): WAIT has no key a Cluster client could
	// route by.
	WaitReplicas int
	// Members, if set, is the live set acknowledgements wait for (a
	// surrogate.StaticMembers list, say), instead of the nodes whose
	// heartbeat has not expired. A listed node not heartbeating is
	// reported unreachable.
	Members surrogate.Members
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Logger receives warnings (malformed entries, resets, lost
	// connections) and debug events. Nil means zap.NewNop().
	Logger *zap.Logger
	// Trace, if set, is called at events of the purge log (appends,
	// deliveries, resyncs, errors). Nil means none.
	Trace *Trace
}

// Bus is a surrogate.AckBus over a Redis Stream, with membership: every
// purge is appended to one stream (XADD, bounded by MaxLen), so all
// nodes apply purges in one total order; each node reads from the last
// entry it applied (XREAD BLOCK, a cursor of its own) and records what it
// applied, which PublishAck waits for. See the package documentation.
//
// A Bus is one node: at most one subscription at a time. It is safe for
// concurrent use by multiple goroutines. A subscription runs a reader and
// a heartbeat goroutine, PublishAck a listener for acknowledgements;
// Close stops them and waits.
type Bus struct {
	rdb                               redis.UniversalClient
	node, advertise                   string
	stream, meta, applied, members    string
	addrs, channel                    string
	maxLen                            int64
	waitReplicas                      int
	ackTimeout, heartbeat, ttl, block time.Duration
	retry                             time.Duration
	static                            surrogate.Members
	now                               func() time.Time
	log                               *zap.Logger
	trace                             *Trace

	lastSync atomic.Int64 // unix ns; 0 means never

	mu      sync.Mutex
	sub     *subscription
	closed  bool
	lis     *listener
	known   map[string]knownMember
	kepoch  string // the log epoch known was read in
	resyncs atomic.Uint64
	skipped atomic.Uint64
}

var (
	_ surrogate.AckBus  = (*Bus)(nil)
	_ surrogate.Syncer  = (*Bus)(nil)
	_ surrogate.Members = (*Bus)(nil)
	_ io.Closer         = (*Bus)(nil)
)

// New returns a Bus. It does not contact Redis: Subscribe and the publish
// calls do.
func New(cfg Config) (*Bus, error) {
	if cfg.Client == nil {
		return nil, fmt.Errorf("%w: Client is required", ErrInvalidConfig)
	}
	if cfg.MaxLen < 0 || cfg.AckTimeout < 0 || cfg.Heartbeat < 0 || cfg.MemberTTL < 0 || cfg.Block < 0 || cfg.Retry < 0 || cfg.WaitReplicas < 0 {
		return nil, fmt.Errorf("%w: negative value", ErrInvalidConfig)
	}
	if _, ok := cfg.Client.(*redis.Client); cfg.WaitReplicas > 0 && !ok {
		return nil, fmt.Errorf("%w: WaitReplicas needs a single-server or Sentinel client, not %T", ErrInvalidConfig, cfg.Client)
	}
	if strings.ContainsAny(cfg.Node, " \x00") || strings.ContainsAny(cfg.Fleet, "{}") {
		return nil, fmt.Errorf("%w: Node has no spaces, Fleet no braces", ErrInvalidConfig)
	}
	fleet := cfg.Fleet
	if fleet == "" {
		fleet = "edgekit"
	}
	tag := "{" + fleet + "}:"
	b := &Bus{
		rdb: cfg.Client, node: cfg.Node, advertise: cfg.Advertise,
		stream: tag + "purges", meta: tag + "meta", applied: tag + "applied", members: tag + "members",
		addrs: tag + "addrs", channel: tag + "acks",
		maxLen: orDefault(cfg.MaxLen, 100000), waitReplicas: cfg.WaitReplicas, ackTimeout: orDefault(cfg.AckTimeout, 5*time.Second),
		heartbeat: orDefault(cfg.Heartbeat, time.Second), block: orDefault(cfg.Block, time.Second),
		retry: orDefault(cfg.Retry, 50*time.Millisecond), static: cfg.Members, now: cfg.Now, log: cfg.Logger, trace: cfg.Trace,
	}
	b.ttl = orDefault(cfg.MemberTTL, 3*b.heartbeat)
	if b.now == nil {
		b.now = time.Now
	}
	if b.log == nil {
		b.log = zap.NewNop()
	}
	b.log = b.log.Named("redisbus")
	return b, nil
}

func orDefault[T int64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

func randomHex() string {
	var r [8]byte
	rand.Read(r[:])
	return hex.EncodeToString(r[:])
}

// Publish implements surrogate.Bus: it appends m to the purge log.
func (b *Bus) Publish(ctx context.Context, m surrogate.Message) error {
	_, _, err := b.append(ctx, m)
	return err
}

// append adds m to the log and returns its epoch and entry ID.
func (b *Bus) append(ctx context.Context, m surrogate.Message) (epoch, id string, err error) {
	if t := b.trace; t != nil && t.Appended != nil {
		start := b.now()
		defer func() { t.Appended(AppendEvent{ID: m.ID, Entry: id, Duration: b.now().Sub(start), Err: err}) }()
	}
	if b.isClosed() {
		return "", "", surrogate.ErrBusClosed
	}
	args := append([]any{b.maxLen, randomHex()}, encode(m)...)
	var sc redis.Scripter = b.rdb
	if b.waitReplicas > 0 {
		// WAIT counts the replicas that have this connection's writes:
		// append and wait on one connection of our own.
		conn := b.rdb.(*redis.Client).Conn()
		defer conn.Close()
		sc = conn
	}
	res, err := appendScript.Run(ctx, sc, []string{b.stream, b.meta}, args...).StringSlice()
	if err != nil {
		return "", "", fmt.Errorf("redisbus: publish: %w", err)
	}
	if b.waitReplicas > 0 {
		n, err := sc.(*redis.Conn).Wait(ctx, b.waitReplicas, b.ackTimeout).Result()
		if err != nil {
			return "", "", fmt.Errorf("redisbus: publish: wait for replicas: %w", err)
		}
		if n < int64(b.waitReplicas) {
			return "", "", fmt.Errorf("%w: %d of %d replicas within %v", ErrNotReplicated, n, b.waitReplicas, b.ackTimeout)
		}
	}
	if len(res) != 2 {
		return "", "", fmt.Errorf("redisbus: publish: unexpected reply %q", res)
	}
	return res[0], res[1], nil
}

func (b *Bus) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// LastSync implements surrogate.Syncer: when this node's reader last
// reached the end of the purge log (the zero time before the first
// read). An idle node confirms it once per Block.
func (b *Bus) LastSync() time.Time {
	ns := b.lastSync.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// Stats is a snapshot of a Bus's counters.
// A plain value, safe for concurrent use while no goroutine changes it.
type Stats struct {
	// Resyncs counts the times this node found it could not know what it
	// missed (the log was trimmed past its cursor, or Redis lost it) and
	// marked everything stale.
	Resyncs uint64
	// Skipped counts malformed or foreign stream entries skipped.
	Skipped uint64
}

// Stats returns the Bus's counters.
func (b *Bus) Stats() Stats {
	return Stats{Resyncs: b.resyncs.Load(), Skipped: b.skipped.Load()}
}

// Live implements surrogate.Members: the nodes whose last heartbeat is
// within MemberTTL by Redis's clock, sorted by ID.
func (b *Bus) Live(ctx context.Context) ([]surrogate.Member, error) {
	live, _, err := b.live(ctx)
	return live, err
}

// live returns the live members and Redis's time in ms.
func (b *Bus) live(ctx context.Context) ([]surrogate.Member, int64, error) {
	res, err := liveScript.Run(ctx, b.rdb, []string{b.members, b.addrs, b.meta}, b.ttl.Milliseconds()).Slice()
	if err != nil {
		return nil, 0, fmt.Errorf("redisbus: members: %w", err)
	}
	return b.parseLive(res)
}

// parseLive reads a listLua reply and remembers its members.
func (b *Bus) parseLive(res []any) ([]surrogate.Member, int64, error) {
	if len(res) < 2 || (len(res)-2)%3 != 0 {
		return nil, 0, fmt.Errorf("redisbus: members: unexpected reply")
	}
	now, _ := res[0].(int64)
	epoch, _ := res[1].(string)
	out := make([]surrogate.Member, 0, (len(res)-2)/3)
	for i := 2; i+2 < len(res); i += 3 {
		id, _ := res[i].(string)
		score, _ := res[i+1].(string)
		addr, _ := res[i+2].(string)
		ms, _ := strconv.ParseInt(score, 10, 64)
		out = append(out, surrogate.Member{ID: id, Addr: addr, LastSeen: time.UnixMilli(ms)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	b.remember(out, now, epoch)
	return out, now, nil
}

// knownMember is a member remembered, until when it counts (local
// clock), and whether that is a grace after a data loss.
type knownMember struct {
	until time.Time
	grace bool
}

// remember records the live members until their heartbeat would expire,
// by the local clock. Read in the same log epoch as before, the list is
// the whole truth (a node missing from it left or expired). Read in
// another, Redis lost its data and the member set with it: the nodes
// known before count for one more MemberTTL (a grace), time to announce
// themselves again, so the fleet does not look empty to
// acknowledgements meanwhile. A reply without an epoch (a Redis that
// lost its data, before anyone published) only adds.
func (b *Bus) remember(live []surrogate.Member, nowMS int64, epoch string) {
	local := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.known == nil:
		b.known = map[string]knownMember{}
	case epoch == "":
	case epoch == b.kepoch:
		for id, k := range b.known {
			if !k.grace {
				delete(b.known, id)
			}
		}
	case b.kepoch != "":
		for id := range b.known {
			b.known[id] = knownMember{until: local.Add(b.ttl), grace: true}
		}
	}
	if epoch != "" {
		b.kepoch = epoch
	}
	for _, m := range live {
		until := local.Add(time.Duration(m.LastSeen.UnixMilli()-nowMS)*time.Millisecond + b.ttl)
		if k := b.known[m.ID]; until.After(k.until) || k.grace {
			b.known[m.ID] = knownMember{until: until}
		}
	}
	for id, k := range b.known {
		if !k.until.After(local) {
			delete(b.known, id)
		}
	}
}

// recent returns the members remembered as live, by the local clock,
// that are missing from live.
func (b *Bus) recent(live []surrogate.Member) []surrogate.Member {
	local := b.now()
	have := map[string]bool{}
	for _, m := range live {
		have[m.ID] = true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, k := range b.known {
		if !have[id] && k.until.After(local) {
			live = append(live, surrogate.Member{ID: id})
		}
	}
	sort.Slice(live, func(i, j int) bool { return live[i].ID < live[j].ID })
	return live
}

// Close ends the subscription (the node leaves the live set) and the
// acknowledgement listener, and waits for their goroutines. It does not
// close the Client. It is idempotent.
func (b *Bus) Close() error {
	b.mu.Lock()
	b.closed = true
	sub, lis := b.sub, b.lis
	b.lis = nil
	b.mu.Unlock()
	if sub != nil {
		sub.stop()
	}
	if lis != nil {
		lis.close()
	}
	return nil
}
