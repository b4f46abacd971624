// Package redisstorage is a certmagic.Storage on Redis (go-redis v9's
// UniversalClient: one server, Sentinel or Cluster), so that a fleet of
// edges running package tlsfront/acme shares its ACME account,
// certificates and challenges, and orders each name once.
//
//	st, err := redisstorage.New(redisstorage.Config{Client: rdb})
//	defer st.Close()
//	m, err := acme.New(acme.Config{Storage: st, ...})
//
// It lives beside tlsfront/acme rather than beside surrogate/redisbus:
// it is an ACME storage (it implements certmagic's interfaces, and only
// programs that use ACME need it), while redisbus is the cache's purge
// bus; so neither package pulls in the other's dependencies.
//
// # Layout
//
// Under Config.Prefix (default "{edgekit:acme}:", a hash tag so that
// every key lives in one Cluster slot): a hash "values" (key → bytes), a
// hash "modified" (key → time of the last Store), a sorted set "index"
// of the keys, ordered by name, from which List and the directories of
// Exists and Stat are read, a counter "fence", a hash "fences" (lock →
// latest fencing token) and one string "lock:NAME" per lock held. Every
// change is one Lua script, so a reader never sees half of a Store or a
// Delete.
//
// # Locks and fencing
//
// TryLock sets lock:NAME if it is absent (SET NX) with an expiry of
// LockTTL and, in the same script, takes a fencing token from the
// counter, which only grows, and records it as the lock's latest. The
// holder refreshes the expiry every LockTTL/3 while the value is still
// its own (compare-and-expire), so a node that dies or loses Redis
// loses its lock after at most LockTTL and another node can take it;
// Unlock deletes the lock only if it is still the holder's
// (compare-and-delete), never a successor's.
//
// A lock that expires while its holder still works (a long pause, a
// partition) could let two nodes write the same certificate. Writes are
// therefore fenced (M. Kleppmann, "How to do distributed locking",
// 2016): a Store to certificates/ISSUER/NAME/… while this Storage holds
// certmagic's lock "issue_cert_NAME" carries the lock's token, and the
// script refuses it (ErrFenced) when a newer token has been issued for
// that lock since. certmagic also asks RenewLockLease before each
// attempt, which fails once the lock is lost, ending the attempt.
//
// # Concurrency and goroutines
//
// A Storage is safe for concurrent use. Each lock it holds has one
// goroutine refreshing it, stopped by Unlock or Close.
package redisstorage
