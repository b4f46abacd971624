package redisbus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgekit/edgekit/surrogate"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// readCount is how many entries one read takes.
const readCount = 256

// subscription is a node's reader and heartbeat.
type subscription struct {
	b      *Bus
	fn     func(surrogate.Message)
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	// The reader's position; only the reader goroutine touches it after
	// Subscribe returns.
	epoch    string
	seq      int64
	cursor   string
	recorded string // "epoch id" last recorded
	lost     string // why the next sync must reset, if it must

	joined atomic.Bool // the first sync succeeded: the node may heartbeat
}

// Subscribe implements surrogate.Bus: this node joins the fleet. It
// announces the node (a heartbeat every Heartbeat), reads the purge log
// from its current end, and calls fn for every purge appended after,
// in log order, on the reader goroutine, recording after each batch what
// it applied. When Redis answers, the node is live and in sync when
// Subscribe returns; when it does not, Subscribe still succeeds and the
// node joins once Redis is back. A node starts with what its cache holds
// and is assumed to have missed nothing before it joined.
//
// fn must not block for long: acknowledgements wait for it. Unsubscribe
// (or ctx ending, or Close) stops reading, waits for the goroutines and
// removes the node from the live set.
func (b *Bus) Subscribe(ctx context.Context, fn func(surrogate.Message)) (func(), error) {
	if b.node == "" {
		return nil, fmt.Errorf("%w: Node is required to subscribe", ErrInvalidConfig)
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, surrogate.ErrBusClosed
	}
	if b.sub != nil {
		b.mu.Unlock()
		return nil, ErrSubscribed
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s := &subscription{b: b, fn: fn, cancel: cancel}
	b.sub = s
	b.mu.Unlock()

	// The first sync and heartbeat now, so a caller sees the node live.
	if err := s.sync(ctx); err != nil {
		b.log.Warn("redisbus: first sync failed; retrying in the background", zap.Error(err))
	} else if err := b.beat(ctx); err != nil {
		b.log.Warn("redisbus: first heartbeat failed; retrying in the background", zap.Error(err))
	}
	stopAfter := context.AfterFunc(ctx, s.stop)
	s.wg.Add(2)
	go s.read(runCtx)
	go s.heartbeats(runCtx)
	return func() { stopAfter(); s.stop() }, nil
}

// stop ends the subscription, waits for its goroutines and removes the
// node from the live set. It is idempotent.
func (s *subscription) stop() {
	s.once.Do(func() {
		s.cancel()
		s.wg.Wait()
		b := s.b
		ctx, cancel := context.WithTimeout(context.Background(), b.block)
		defer cancel()
		if err := leaveScript.Run(ctx, b.rdb, []string{b.members, b.addrs, b.applied}, b.node).Err(); err != nil {
			b.log.Debug("redisbus: leave", zap.Error(err))
		}
		b.mu.Lock()
		if b.sub == s {
			b.sub = nil
		}
		b.mu.Unlock()
	})
}

func (b *Bus) beat(ctx context.Context) error {
	res, err := heartbeatScript.Run(ctx, b.rdb, []string{b.members, b.addrs, b.applied, b.meta}, b.node, b.advertise, b.ttl.Milliseconds()).Slice()
	if err != nil {
		return err
	}
	_, _, err = b.parseLive(res)
	return err
}

func (s *subscription) heartbeats(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.b.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if !s.joined.Load() {
				continue // not live before the reader knows where it starts
			}
			if err := s.b.beat(ctx); err != nil && ctx.Err() == nil {
				s.b.log.Debug("redisbus: heartbeat", zap.Error(err))
				s.b.traceError("heartbeat", err)
			}
		}
	}
}

// sync reads where the log stands and compares it with the reader's
// position. The first time, the reader starts at the end. Later, a
// different epoch (Redis lost the log and a new one began), a sequence
// that went backwards, or entries this node has not read that are no
// longer there mean it cannot know what it missed: it resets.
func (s *subscription) sync(ctx context.Context) error {
	b := s.b
	res, err := syncScript.Run(ctx, b.rdb, []string{b.stream, b.meta}, "", randomHex()).StringSlice()
	if err != nil {
		return err
	}
	if len(res) != 3 {
		return fmt.Errorf("redisbus: sync: unexpected reply %q", res)
	}
	epoch, last := res[0], res[2]
	seq, err := strconv.ParseInt(res[1], 10, 64)
	if err != nil {
		return fmt.Errorf("redisbus: sync: seq %q", res[1])
	}
	lastID, _ := parseID(last)
	cur, _ := parseID(s.cursor)
	switch {
	case s.lost != "":
		s.reset(s.lost, epoch, seq, last)
	case s.epoch == "":
		s.epoch, s.seq, s.cursor = epoch, seq, last
		s.joined.Store(true)
		b.log.Debug("redisbus: joined", zap.String("epoch", epoch), zap.Int64("seq", seq), zap.String("at", last))
	case epoch != s.epoch:
		s.reset(fmt.Sprintf("epoch %s replaced %s (Redis lost the purge log)", epoch, s.epoch), epoch, seq, last)
	case seq < s.seq:
		s.reset(fmt.Sprintf("sequence went back from %d to %d", s.seq, seq), epoch, seq, last)
	case seq > s.seq && !cur.less(lastID):
		s.reset(fmt.Sprintf("entries %d..%d are gone", s.seq+1, seq), epoch, seq, last)
	default:
		return s.record(ctx)
	}
	// Announced again at once: after a data loss the member set is gone.
	if err := b.beat(ctx); err != nil {
		return err
	}
	return s.record(ctx)
}

// reset marks everything this node holds stale (a soft purge of all,
// delivered to fn) and moves the reader to the end of the log.
func (s *subscription) reset(why, epoch string, seq int64, last string) {
	s.lost = ""
	s.b.resyncs.Add(1)
	s.b.log.Warn("redisbus: cannot know which purges were missed; marking everything stale", zap.String("why", why))
	if t := s.b.trace; t != nil && t.Resynced != nil {
		t.Resynced(ResyncEvent{Why: why})
	}
	s.epoch, s.seq, s.cursor = epoch, seq, last
	s.fn(surrogate.Message{ID: "resync-" + randomHex(), All: true, Mode: surrogate.Soft})
}

// record tells publishers what this node applied.
func (s *subscription) record(ctx context.Context) error {
	v := s.epoch + " " + s.cursor
	if v == s.recorded {
		return nil
	}
	b := s.b
	if err := recordScript.Run(ctx, b.rdb, []string{b.applied}, b.node, v, b.channel).Err(); err != nil {
		return err
	}
	s.recorded = v
	return nil
}

func (s *subscription) read(ctx context.Context) {
	defer s.wg.Done()
	b := s.b
	pause := b.retry
	synced := s.epoch != ""
	for ctx.Err() == nil {
		if !synced {
			if err := s.sync(ctx); err != nil {
				if ctx.Err() == nil {
					b.log.Debug("redisbus: sync", zap.Error(err))
					b.traceError("sync", err)
					if !sleep(ctx, pause) {
						return
					}
					pause = min(2*pause, 2*time.Second)
				}
				continue
			}
		}
		start := b.now()
		streams, err := b.rdb.XRead(ctx, &redis.XReadArgs{
			Streams: []string{b.stream, s.cursor}, Count: readCount, Block: b.block,
		}).Result()
		switch {
		case errors.Is(err, redis.Nil):
			// Nothing new: in sync as of the read. Check the epoch
			// again before the next read (Redis may have restarted
			// between reads without this client seeing an error).
			b.lastSync.Store(start.UnixNano())
			synced = false
			continue
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			b.log.Debug("redisbus: read", zap.Error(err))
			b.traceError("read", err)
			synced = false
			if !sleep(ctx, pause) {
				return
			}
			pause = min(2*pause, 2*time.Second)
			continue
		}
		pause = b.retry
		n := 0
		for _, st := range streams {
			n += len(st.Messages)
			if !s.apply(st.Messages) {
				synced = false // reset: the next sync moves the cursor
				break
			}
		}
		if err := s.record(ctx); err != nil && ctx.Err() == nil {
			b.log.Debug("redisbus: record", zap.Error(err))
			b.traceError("record", err)
			synced = false
		}
		if n < readCount && synced {
			b.lastSync.Store(start.UnixNano())
		}
	}
}

// apply hands a batch of entries to fn in order. It returns false when an
// entry shows the reader cannot know what it missed: a different epoch or
// a gap in the sequence; the caller then syncs, which resets.
func (s *subscription) apply(msgs []redis.XMessage) bool {
	b := s.b
	for _, x := range msgs {
		h, ok := decodeHeader(x.Values)
		if !ok {
			b.skipped.Add(1)
			b.log.Warn("redisbus: skipped an entry not written by redisbus", zap.String("id", x.ID))
			s.cursor = x.ID
			continue
		}
		if h.epoch != s.epoch {
			s.lost = fmt.Sprintf("entry %s is of epoch %s, not %s (Redis lost the purge log)", x.ID, h.epoch, s.epoch)
			return false
		}
		if h.seq > s.seq+1 {
			s.lost = fmt.Sprintf("entry %s is number %d, after %d: the log was trimmed past this node", x.ID, h.seq, s.seq)
			return false
		}
		s.cursor = x.ID
		if h.seq <= s.seq {
			b.skipped.Add(1)
			b.log.Warn("redisbus: skipped an entry out of sequence", zap.String("id", x.ID), zap.Int64("seq", h.seq))
			continue
		}
		s.seq = h.seq
		m, err := decode(x.Values)
		if err != nil {
			b.skipped.Add(1)
			b.log.Warn("redisbus: skipped a malformed entry", zap.String("id", x.ID), zap.Error(err))
			continue
		}
		b.traceDelivered(m, x.ID)
		s.fn(m)
	}
	return true
}

// sleep waits d or until ctx ends, reporting whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
