package redisstorage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// Defaults of Config's zero values.
const (
	DefaultPrefix       = "{edgekit:acme}:"
	DefaultLockTTL      = 30 * time.Second
	DefaultPollInterval = time.Second
)

// Config configures a Storage. Client is required; every other zero
// value is a documented default.
// A plain value, safe for concurrent use while no goroutine changes it.
type Config struct {
	// Client reaches Redis: one server, Sentinel or Cluster. The Storage
	// does not close it.
	Client redis.UniversalClient
	// Prefix starts every key. It should hold a hash tag ("{...}") so
	// that all keys live in one Cluster slot, as the scripts need. Empty
	// means DefaultPrefix.
	Prefix string
	// LockTTL is how long a lock outlives its holder's last refresh: a
	// holder refreshes it every LockTTL/3, so a node that dies or is cut
	// off loses it after at most LockTTL. Zero means DefaultLockTTL.
	LockTTL time.Duration
	// PollInterval is how often Lock retries while another node holds the
	// lock. Zero means DefaultPollInterval.
	PollInterval time.Duration
	// Logger receives lost locks and failed refreshes (error). Nil means
	// zap.NewNop().
	Logger *zap.Logger
}

// Storage is a certmagic.Storage (with TryLocker and LockLeaseRenewer)
// on Redis. See the package documentation for the data layout, locks
// and fencing.
//
// A Storage is safe for concurrent use by multiple goroutines and must
// not be copied. Each lock it holds has a goroutine refreshing it, which
// Unlock or Close stops.
type Storage struct {
	cfg                             Config
	rdb                             redis.UniversalClient
	log                             *zap.Logger
	values, modified, index, fences string
	counter                         string

	mu     sync.Mutex
	held   map[string]*held // by lock name
	closed bool
}

// held is a lock this Storage holds.
type held struct {
	value string // "fence:random", the lock key's value
	fence int64
	stop  chan struct{}
	done  chan struct{}
}

var (
	_ certmagic.Storage          = (*Storage)(nil)
	_ certmagic.TryLocker        = (*Storage)(nil)
	_ certmagic.LockLeaseRenewer = (*Storage)(nil)
)

// New returns a Storage on cfg.Client. It does not contact Redis.
func New(cfg Config) (*Storage, error) {
	if cfg.Client == nil {
		return nil, fmt.Errorf("%w: no Client", ErrInvalidConfig)
	}
	if cfg.LockTTL < 0 || cfg.PollInterval < 0 {
		return nil, fmt.Errorf("%w: negative LockTTL or PollInterval", ErrInvalidConfig)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.LockTTL == 0 {
		cfg.LockTTL = DefaultLockTTL
	}
	if cfg.LockTTL < 30*time.Millisecond {
		return nil, fmt.Errorf("%w: LockTTL under 30ms", ErrInvalidConfig)
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	s := &Storage{cfg: cfg, rdb: cfg.Client, log: cfg.Logger, held: map[string]*held{}}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	s.log = s.log.Named("redisstorage")
	p := cfg.Prefix
	s.values, s.modified, s.index, s.fences, s.counter = p+"values", p+"modified", p+"index", p+"fences", p+"fence"
	return s, nil
}

func (s *Storage) lockKey(name string) string { return s.cfg.Prefix + "lock:" + name }

// String names the storage in certmagic's logs.
func (s *Storage) String() string { return "redis:" + s.cfg.Prefix }

// cleanKey drops leading and trailing slashes: "a/b/" is "a/b".
func cleanKey(key string) string { return strings.Trim(key, "/") }

// Store puts value at key. A key under certificates/ISSUER/NAME/ written
// while this Storage holds the lock "issue_cert_NAME" is fenced: it fails
// with ErrFenced if another holder took that lock since.
func (s *Storage) Store(ctx context.Context, key string, value []byte) error {
	key = cleanKey(key)
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	lockName, fence := "", int64(0)
	if name, ok := guard(key); ok {
		s.mu.Lock()
		if h := s.held[name]; h != nil {
			lockName, fence = name, h.fence
		}
		s.mu.Unlock()
	}
	err := storeScript.Run(ctx, s.rdb, []string{s.values, s.modified, s.index, s.fences},
		key, value, time.Now().UnixNano(), lockName, fence).Err()
	if err != nil && strings.Contains(err.Error(), "FENCED") {
		return fmt.Errorf("%w: %s (lock %s, fence %d)", ErrFenced, key, lockName, fence)
	}
	if err != nil {
		return fmt.Errorf("redisstorage: store %s: %w", key, err)
	}
	return nil
}

// guard returns the certmagic lock that covers writes to key:
// "issue_cert_NAME" for certificates/ISSUER/NAME/FILE.
func guard(key string) (string, bool) {
	parts := strings.SplitN(key, "/", 4)
	if len(parts) == 4 && parts[0] == "certificates" && parts[2] != "" {
		return "issue_cert_" + parts[2], true
	}
	return "", false
}

// Load returns the value at key, or an error wrapping fs.ErrNotExist.
func (s *Storage) Load(ctx context.Context, key string) ([]byte, error) {
	key = cleanKey(key)
	b, err := s.rdb.HGet(ctx, s.values, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redisstorage: %s: %w", key, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("redisstorage: load %s: %w", key, err)
	}
	return b, nil
}

// Delete removes key and, as a directory, every key under key/. A key
// that does not exist is not an error.
func (s *Storage) Delete(ctx context.Context, key string) error {
	key = cleanKey(key)
	if key == "" {
		return fmt.Errorf("%w: empty key (would delete everything)", ErrInvalidKey)
	}
	if err := deleteScript.Run(ctx, s.rdb, []string{s.values, s.modified, s.index}, key).Err(); err != nil {
		return fmt.Errorf("redisstorage: delete %s: %w", key, err)
	}
	return nil
}

// under returns the ZRANGEBYLEX bounds of the keys under dir ("" is the
// root): [dir/ to (dir0, '0' being the byte after '/'.
func under(dir string) (string, string) {
	if dir == "" {
		return "-", "+"
	}
	return "[" + dir + "/", "(" + dir + "0"
}

// Exists reports whether key is a value or a directory (a prefix of
// values); a Redis error reads as false.
func (s *Storage) Exists(ctx context.Context, key string) bool {
	key = cleanKey(key)
	if ok, err := s.rdb.HExists(ctx, s.values, key).Result(); err == nil && ok {
		return true
	}
	lo, hi := under(key)
	n, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: s.index, Start: lo, Stop: hi, ByLex: true, Count: 1}).Result()
	return err == nil && len(n) > 0
}

// List returns the keys under dir: its direct children (values and
// directories) or, recursive, every value and directory below it, as
// certmagic.FileStorage does. A dir with nothing under it is
// fs.ErrNotExist.
func (s *Storage) List(ctx context.Context, dir string, recursive bool) ([]string, error) {
	dir = cleanKey(dir)
	lo, hi := under(dir)
	keys, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: s.index, Start: lo, Stop: hi, ByLex: true}).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstorage: list %s: %w", dir, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("redisstorage: %s: %w", dir, fs.ErrNotExist)
	}
	base := ""
	if dir != "" {
		base = dir + "/"
	}
	seen := map[string]bool{}
	var out []string
	add := func(k string) {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	for _, k := range keys {
		rest := strings.TrimPrefix(k, base)
		parts := strings.Split(rest, "/")
		if !recursive {
			add(base + parts[0])
			continue
		}
		for i := range parts {
			add(base + strings.Join(parts[:i+1], "/"))
		}
	}
	return out, nil
}

// Stat describes key: a value (size, time of the last Store) or a
// directory (IsTerminal false).
func (s *Storage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	key = cleanKey(key)
	pipe := s.rdb.Pipeline()
	mod := pipe.HGet(ctx, s.modified, key)
	size := pipe.HStrLen(ctx, s.values, key)
	ex := pipe.HExists(ctx, s.values, key)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return certmagic.KeyInfo{}, fmt.Errorf("redisstorage: stat %s: %w", key, err)
	}
	if ex.Val() {
		ns, _ := strconv.ParseInt(mod.Val(), 10, 64)
		return certmagic.KeyInfo{Key: key, Modified: time.Unix(0, ns), Size: size.Val(), IsTerminal: true}, nil
	}
	if key == "" || s.Exists(ctx, key) {
		return certmagic.KeyInfo{Key: key, IsTerminal: false}, nil
	}
	return certmagic.KeyInfo{}, fmt.Errorf("redisstorage: %s: %w", key, fs.ErrNotExist)
}

// Lock takes the named lock, waiting (polling every PollInterval) while
// another holder has it, until ctx ends. See TryLock.
func (s *Storage) Lock(ctx context.Context, name string) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		ok, err := s.TryLock(ctx, name)
		if err != nil || ok {
			return err
		}
		t.Reset(s.cfg.PollInterval)
	}
}

// TryLock takes the named lock if nobody holds it: SET NX with LockTTL,
// its value a fencing token from a counter that only grows (Kleppmann's
// fencing; the token is recorded as the lock's latest, so writes under
// an older one fail with ErrFenced). A goroutine refreshes it every
// LockTTL/3 until Unlock or Close.
func (s *Storage) TryLock(ctx context.Context, name string) (bool, error) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return false, ErrClosed
	}
	var r [12]byte
	rand.Read(r[:])
	fence, err := lockScript.Run(ctx, s.rdb, []string{s.lockKey(name), s.counter, s.fences},
		name, hex.EncodeToString(r[:]), s.cfg.LockTTL.Milliseconds()).Int64()
	if err != nil {
		return false, fmt.Errorf("redisstorage: lock %s: %w", name, err)
	}
	if fence == 0 {
		return false, nil
	}
	h := &held{value: strconv.FormatInt(fence, 10) + ":" + hex.EncodeToString(r[:]), fence: fence, stop: make(chan struct{}), done: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		unlockScript.Run(context.WithoutCancel(ctx), s.rdb, []string{s.lockKey(name)}, h.value)
		return false, ErrClosed
	}
	s.held[name] = h
	s.mu.Unlock()
	go s.refresh(name, h)
	return true, nil
}

// refresh extends h's expiry every LockTTL/3 while it is still ours.
func (s *Storage) refresh(name string, h *held) {
	defer close(h.done)
	t := time.NewTicker(s.cfg.LockTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.LockTTL/3)
		ok, err := refreshScript.Run(ctx, s.rdb, []string{s.lockKey(name)}, h.value, s.cfg.LockTTL.Milliseconds()).Int64()
		cancel()
		switch {
		case err != nil:
			s.log.Error("lock not refreshed", zap.String("lock", name), zap.Error(err))
		case ok == 0:
			s.log.Error("lock lost: it expired and may be held by another node; writes under it are fenced off", zap.String("lock", name))
			return
		}
	}
}

// release stops h's refresher and deletes the lock if it is still ours.
func (s *Storage) release(ctx context.Context, name string, h *held) error {
	close(h.stop)
	<-h.done
	ok, err := unlockScript.Run(ctx, s.rdb, []string{s.lockKey(name)}, h.value).Int64()
	if err != nil {
		return fmt.Errorf("redisstorage: unlock %s: %w", name, err)
	}
	if ok == 0 {
		return fmt.Errorf("%w: %s", ErrLockLost, name)
	}
	return nil
}

// Unlock releases the named lock if this Storage holds it; a lock that
// expired meanwhile (and may be another's now) is left alone and
// reported with ErrLockLost.
func (s *Storage) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	h := s.held[name]
	delete(s.held, name)
	s.mu.Unlock()
	if h == nil {
		return fmt.Errorf("%w: %s: not held", ErrLockLost, name)
	}
	return s.release(ctx, name, h)
}

// RenewLockLease implements certmagic.LockLeaseRenewer: before each
// attempt certmagic asks whether the lock is still held. The lease is not
// stretched (the refresher keeps it to LockTTL, so a dead node's lock
// still expires soon); a lock found lost is an error, which stops the
// attempt.
func (s *Storage) RenewLockLease(ctx context.Context, name string, _ time.Duration) error {
	s.mu.Lock()
	h := s.held[name]
	s.mu.Unlock()
	if h == nil {
		return fmt.Errorf("%w: %s: not held", ErrLockLost, name)
	}
	ok, err := refreshScript.Run(ctx, s.rdb, []string{s.lockKey(name)}, h.value, s.cfg.LockTTL.Milliseconds()).Int64()
	if err != nil {
		return fmt.Errorf("redisstorage: renew %s: %w", name, err)
	}
	if ok == 0 {
		return fmt.Errorf("%w: %s", ErrLockLost, name)
	}
	return nil
}

// Close releases every lock this Storage holds and stops their
// refreshers; later TryLock and Lock fail with ErrClosed. It does not
// close the client. It is idempotent.
func (s *Storage) Close() error {
	s.mu.Lock()
	s.closed = true
	all := s.held
	s.held = map[string]*held{}
	s.mu.Unlock()
	var errs []error
	for name, h := range all {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, s.release(ctx, name, h))
		cancel()
	}
	return errors.Join(errs...)
}

// The scripts. Every key they touch is declared and shares the prefix's
// hash tag, so they run on a Cluster too.
var (
	// KEYS: values, modified, index, fences. ARGV: key, value, now (ns),
	// lock name ("" for no fencing), fence.
	storeScript = redis.NewScript(`
if ARGV[4] ~= "" then
	local last = tonumber(redis.call("HGET", KEYS[4], ARGV[4]) or "0")
	if last > tonumber(ARGV[5]) then
		return redis.error_reply("FENCED")
	end
end
redis.call("HSET", KEYS[1], ARGV[1], ARGV[2])
redis.call("HSET", KEYS[2], ARGV[1], ARGV[3])
redis.call("ZADD", KEYS[3], 0, ARGV[1])
return 1`)

	// KEYS: values, modified, index. ARGV: key.
	deleteScript = redis.NewScript(`
local keys = redis.call("ZRANGEBYLEX", KEYS[3], "[" .. ARGV[1] .. "/", "(" .. ARGV[1] .. "0")
table.insert(keys, ARGV[1])
for _, k in ipairs(keys) do
	redis.call("HDEL", KEYS[1], k)
	redis.call("HDEL", KEYS[2], k)
	redis.call("ZREM", KEYS[3], k)
end
return #keys`)

	// KEYS: lock, fence counter, fences. ARGV: name, random, ttl (ms).
	// Returns the new fence, or 0 when the lock is held.
	lockScript = redis.NewScript(`
if redis.call("EXISTS", KEYS[1]) == 1 then
	return 0
end
local f = redis.call("INCR", KEYS[2])
redis.call("SET", KEYS[1], f .. ":" .. ARGV[2], "PX", ARGV[3])
redis.call("HSET", KEYS[3], ARGV[1], f)
return f`)

	// KEYS: lock. ARGV: value, ttl (ms). 1 if still ours (and extended).
	refreshScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	redis.call("PEXPIRE", KEYS[1], ARGV[2])
	return 1
end
return 0`)

	// KEYS: lock. ARGV: value. 1 if it was ours (and is deleted).
	unlockScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	redis.call("DEL", KEYS[1])
	return 1
end
return 0`)
)
