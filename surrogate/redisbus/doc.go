// Package redisbus carries purges across a fleet of edge nodes through
// Redis: a surrogate.AckBus with membership. It lives apart from package
// surrogate so that surrogate keeps no Redis dependency. The client is
// go-redis's UniversalClient, so a single server, Sentinel (failover) and
// Cluster all work; AUTH, ACL users and TLS are the client's options.
//
// # The purge log
//
// Every purge (by URL, surrogate key or all; hard or soft) is appended to
// one Redis Stream, {fleet}:purges, by a script that also stamps it with
// the log's epoch and a sequence number (XADD MAXLEN ~ Config.MaxLen).
// Every node reads the stream from the last entry it applied (XREAD
// BLOCK, a cursor of its own: no consumer group, since every node must
// see every entry), so all nodes apply purges in one total order, and
// records what it applied ({fleet}:applied, and a notification on
// {fleet}:acks).
//
// # Nothing lost
//
// A node cut off from Redis resumes from its cursor when it is back. When
// it cannot know what it missed, it marks everything it holds stale (a
// soft purge of all, delivered to the subscriber as a Message with All and
// Soft) and resumes from the end of the log: when the entries after its
// cursor were trimmed (the next sequence number it reads is not the one
// it expects), and when Redis lost the log (a restart without
// persistence: the epoch changes, or the log is gone). A malformed or
// foreign entry is logged and skipped, never fatal.
//
// # Acknowledgement and membership
//
// A subscribed node heartbeats ({fleet}:members, a sorted set by last
// seen, by Redis's clock) and leaves the live set when it unsubscribes,
// or MemberTTL after its last heartbeat. PublishAck returns when every
// live node has applied the purge, or at AckTimeout, with each node
// applied, lagging (alive but behind), unreachable (not heard from since
// the purge) or resynced (it marked everything stale after Redis lost the
// log). Config.Members replaces the heartbeat set with a fixed list
// (surrogate.StaticMembers).
//
// # Concurrency
//
// A Bus is safe for concurrent use. A subscription runs a reader and a
// heartbeat goroutine; PublishAck starts one listener for
// acknowledgements; Close stops them and waits (up to Config.Block for a
// read in flight).
package redisbus
