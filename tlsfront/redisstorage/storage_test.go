package redisstorage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/edgekit/edgekit/internal/redistest"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newStorage(t *testing.T, srv *redistest.Server, cfg Config) *Storage {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { rdb.Close() })
	cfg.Client = rdb
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// The same operations on certmagic's FileStorage and on Redis give the
// same answers (certmagic.Storage's contract as FileStorage reads it).
func TestDifferentialFileStorage(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := context.Background()
	stores := []certmagic.Storage{&certmagic.FileStorage{Path: t.TempDir()}, newStorage(t, srv, Config{})}
	run := func(st certmagic.Storage) []string {
		var log []string
		say := func(format string, a ...any) { log = append(log, fmt.Sprintf(format, a...)) }
		for _, kv := range [][2]string{
			{"acme/ca/users/a@x/a.json", "A"},
			{"acme/ca/users/a@x/a.key", "AK"},
			{"acme/ca/users/b@x/b.json", "B"},
			{"certificates/ca/www.example.com/www.example.com.crt", "C1"},
			{"certificates/ca/www.example.com/www.example.com.crt", "C2"}, // overwrite
			{"certificates/ca/www.example.com0/x", "edge"},                // sorts right after "www.example.com/"
			{"top", "T"},
		} {
			say("store %s: %v", kv[0], st.Store(ctx, kv[0], []byte(kv[1])))
		}
		for _, k := range []string{"top", "certificates/ca/www.example.com/www.example.com.crt", "acme/ca/users", "nope", "acme/ca/users/a@x/a.jso"} {
			b, err := st.Load(ctx, k)
			// Loading a directory fails on both; the file system's error
			// is not fs.ErrNotExist, ours is: compare failing only.
			say("load %s: %q %v exists %v", k, b, err != nil, st.Exists(ctx, k))
			info, err := st.Stat(ctx, k)
			if !info.IsTerminal {
				info.Size = 0 // a directory's size is the file system's
			}
			say("stat %s: %s %v %d %v", k, info.Key, info.IsTerminal, info.Size, errors.Is(err, fs.ErrNotExist))
		}
		for _, dir := range []string{"acme", "acme/ca/users", "certificates/ca", "nope"} {
			for _, rec := range []bool{false, true} {
				keys, err := st.List(ctx, dir, rec)
				slices.Sort(keys)
				say("list %s %v: %v %v", dir, rec, keys, errors.Is(err, fs.ErrNotExist))
			}
		}
		say("delete dir: %v", st.Delete(ctx, "certificates/ca/www.example.com"))
		say("delete missing: %v", st.Delete(ctx, "nope/nope"))
		say("exists after delete: %v %v", st.Exists(ctx, "certificates/ca/www.example.com/www.example.com.crt"), st.Exists(ctx, "certificates/ca/www.example.com0/x"))
		keys, err := st.List(ctx, "certificates", true)
		slices.Sort(keys)
		say("list after delete: %v %v", keys, err)
		return log
	}
	a, b := run(stores[0]), run(stores[1])
	for i := range a {
		if a[i] != b[i] {
			t.Errorf("file:  %s\nredis: %s", a[i], b[i])
		}
	}
}

// One holder at a time; Lock waits for the holder's Unlock; Unlock of a
// lock not held is an error.
func TestLockExclusion(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	a := newStorage(t, srv, Config{PollInterval: 10 * time.Millisecond})
	b := newStorage(t, srv, Config{PollInterval: 10 * time.Millisecond})
	ctx := context.Background()
	if ok, err := a.TryLock(ctx, "issue_cert_x.test"); !ok || err != nil {
		t.Fatalf("a: %v %v", ok, err)
	}
	if ok, err := b.TryLock(ctx, "issue_cert_x.test"); ok || err != nil {
		t.Fatalf("b took a held lock: %v %v", ok, err)
	}
	got := make(chan error, 1)
	go func() { got <- b.Lock(ctx, "issue_cert_x.test") }()
	if err := a.Unlock(ctx, "issue_cert_x.test"); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if err := a.Unlock(ctx, "issue_cert_x.test"); !errors.Is(err, ErrLockLost) {
		t.Errorf("unlock of a lock not held: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := a.Lock(short, "issue_cert_x.test"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Lock while b holds it: %v", err)
	}
	if err := b.Unlock(ctx, "issue_cert_x.test"); err != nil {
		t.Fatal(err)
	}
}

// The holder's refresher keeps the lock past its TTL.
func TestLockRefreshed(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	// A TTL of 900 ms leaves the refresher (every 300 ms) 600 ms of
	// scheduling delay on a loaded machine before the key could expire.
	a := newStorage(t, srv, Config{LockTTL: 900 * time.Millisecond})
	ctx := context.Background()
	if ok, _ := a.TryLock(ctx, "n"); !ok {
		t.Fatal("not locked")
	}
	// Wait on Redis's clock, not ours: the lock key must still exist
	// after several TTLs (bounded loop).
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		n, err := a.rdb.Exists(ctx, a.lockKey("n")).Result()
		if err != nil || n != 1 {
			t.Fatalf("lock gone while held: %v %v", n, err)
		}
		a.rdb.Ping(ctx)
	}
	if err := a.Unlock(ctx, "n"); err != nil {
		t.Fatal(err)
	}
}

// A holder that stops refreshing (dead, paused, partitioned) loses the
// lock after LockTTL; the next holder gets a newer fencing token, the old
// holder's writes under the lock are refused (ErrFenced), its Unlock does
// not delete the new holder's lock, and RenewLockLease tells it the lock
// is lost.
func TestLockExpiryAndFencing(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	a := newStorage(t, srv, Config{LockTTL: 200 * time.Millisecond, PollInterval: 10 * time.Millisecond})
	b := newStorage(t, srv, Config{LockTTL: 5 * time.Second, PollInterval: 10 * time.Millisecond})
	c := newStorage(t, srv, Config{})
	ctx := context.Background()
	const lock = "issue_cert_www.example.com"
	const key = "certificates/ca/www.example.com/www.example.com.crt"
	if err := a.Lock(ctx, lock); err != nil {
		t.Fatal(err)
	}
	if err := a.Store(ctx, key, []byte("from a")); err != nil {
		t.Fatal(err)
	}
	// a pauses: its refresher stops, the lock expires on Redis's clock.
	a.mu.Lock()
	h := a.held[lock]
	a.mu.Unlock()
	close(h.stop)
	<-h.done
	h.stop = make(chan struct{}) // release closes it again
	h.done = make(chan struct{})
	close(h.done)
	waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := b.Lock(waitCtx, lock); err != nil {
		t.Fatalf("b never got the expired lock: %v", err)
	}
	if err := a.Store(ctx, key, []byte("late write from a")); !errors.Is(err, ErrFenced) {
		t.Errorf("a's late write: %v, want ErrFenced", err)
	}
	if err := a.RenewLockLease(ctx, lock, time.Minute); !errors.Is(err, ErrLockLost) {
		t.Errorf("a's lease renewal: %v, want ErrLockLost", err)
	}
	// Writes outside the certificate's directory are not fenced.
	if err := a.Store(ctx, "acme/ca/users/a/a.json", []byte("x")); err != nil {
		t.Error(err)
	}
	if err := b.Store(ctx, key, []byte("from b")); err != nil {
		t.Fatal(err)
	}
	if err := a.Unlock(ctx, lock); !errors.Is(err, ErrLockLost) {
		t.Errorf("a's unlock of a lost lock: %v", err)
	}
	if ok, _ := c.TryLock(ctx, lock); ok {
		t.Fatal("a's unlock deleted b's lock")
	}
	if v, _ := c.Load(ctx, key); string(v) != "from b" {
		t.Errorf("stored %q, want b's", v)
	}
	if err := b.Unlock(ctx, lock); err != nil {
		t.Fatal(err)
	}
	// An unfenced write (no lock held) goes through.
	if err := a.Store(ctx, key, []byte("after")); err != nil {
		t.Error(err)
	}
}

// Close releases the locks held; later locks fail.
func TestClose(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	a := newStorage(t, srv, Config{})
	b := newStorage(t, srv, Config{})
	ctx := context.Background()
	if ok, _ := a.TryLock(ctx, "x"); !ok {
		t.Fatal("not locked")
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if ok, _ := b.TryLock(ctx, "x"); !ok {
		t.Error("Close did not release the lock")
	}
	if _, err := a.TryLock(ctx, "y"); !errors.Is(err, ErrClosed) {
		t.Errorf("TryLock after Close: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := New(Config{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("no client: %v", err)
	}
	if err := b.Delete(ctx, ""); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("Delete(\"\"): %v", err)
	}
}
