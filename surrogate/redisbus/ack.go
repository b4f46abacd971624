package redisbus

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/edgekit/edgekit/surrogate"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// pollEvery is how often PublishAck reads the applied positions itself,
// in case a notification was lost (Pub/Sub does not survive a
// reconnection).
const pollEvery = 100 * time.Millisecond

// position is what a node reported applied: an epoch and an entry ID.
type position struct {
	epoch string
	id    streamID
}

func parsePosition(s string) (position, bool) {
	epoch, id, ok := strings.Cut(s, " ")
	sid, ok2 := parseID(id)
	return position{epoch: epoch, id: sid}, ok && ok2 && epoch != ""
}

// newer reports whether p is past q: a later epoch, or further in the
// same one.
func (p position) newer(q position) bool {
	if p.epoch != q.epoch {
		return epochTime(p.epoch) > epochTime(q.epoch)
	}
	return q.id.less(p.id)
}

// covers says whether a node at p has dealt with the entry at e: applied
// it (same epoch, at or past it), or resynced after the log holding it
// was lost (a later epoch).
func (p position) covers(e position) (surrogate.AckState, bool) {
	switch {
	case p.epoch == e.epoch && !p.id.less(e.id):
		return surrogate.AckApplied, true
	case p.epoch != e.epoch && epochTime(p.epoch) > epochTime(e.epoch):
		return surrogate.AckResynced, true
	}
	return 0, false
}

// listener follows the acknowledgement channel for PublishAck.
type listener struct {
	ps   *redis.PubSub
	done chan struct{}

	mu      sync.Mutex
	seen    map[string]position
	changed chan struct{} // closed and replaced on every change
}

func newListener() *listener {
	return &listener{seen: map[string]position{}, changed: make(chan struct{})}
}

// merge records node at p if it is newer than what is known.
func (l *listener) merge(node string, p position) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if old, ok := l.seen[node]; ok && !p.newer(old) {
		return
	}
	l.seen[node] = p
	close(l.changed)
	l.changed = make(chan struct{})
}

// get returns node's position and the channel closed at the next change.
func (l *listener) get(node string) (position, bool, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.seen[node]
	return p, ok, l.changed
}

func (l *listener) close() {
	if l.ps != nil {
		l.ps.Close()
		<-l.done
	}
}

// listen returns the Bus's listener, subscribing to the channel the first
// time. A listener without ps (Redis did not answer) relies on polling.
func (b *Bus) listen(ctx context.Context) *listener {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.lis != nil || b.closed {
		if b.lis == nil {
			return newListener()
		}
		return b.lis
	}
	l := newListener()
	ps := b.rdb.Subscribe(ctx, b.channel)
	if _, err := ps.Receive(ctx); err != nil {
		ps.Close()
		b.log.Debug("redisbus: acknowledgement channel", zap.Error(err))
		return l // not kept: the next PublishAck tries again
	}
	l.ps, l.done = ps, make(chan struct{})
	ch := ps.Channel()
	go func() {
		defer close(l.done)
		for msg := range ch {
			node, pos, ok := strings.Cut(msg.Payload, " ")
			if p, ok2 := parsePosition(pos); ok && ok2 {
				l.merge(node, p)
			}
		}
	}()
	b.lis = l
	return l
}

// PublishAck implements surrogate.AckBus: it appends m to the log, then
// waits until every live node (Config.Members, or the nodes heartbeating,
// including those this Bus saw heartbeating within MemberTTL, in case
// Redis lost the member set) has applied it, AckTimeout passes or ctx ends. Nodes that have not
// applied it by then are lagging when they heartbeated after the purge
// was published and unreachable when not. Nodes that resynced after Redis
// lost the log holding it (they marked everything stale) are reported
// resynced and count as done. After Redis lost its data, a node that
// joined less than a heartbeat before the loss may be unknown to this Bus
// and not waited for until it heartbeats again.
func (b *Bus) PublishAck(ctx context.Context, m surrogate.Message) (surrogate.Ack, error) {
	start := b.now()
	lis := b.listen(ctx)
	epoch, id, err := b.append(ctx, m)
	if err != nil {
		return surrogate.Ack{}, err
	}
	sid, _ := parseID(id)
	entry := position{epoch: epoch, id: sid}
	ack := surrogate.Ack{ID: id}
	deadline := time.NewTimer(b.ackTimeout)
	defer deadline.Stop()
	poll := time.NewTicker(pollEvery)
	defer poll.Stop()
	// The live set; Redis may be briefly away, so retried until the
	// deadline.
	var expected []surrogate.Member
	for {
		if b.static != nil {
			expected, err = b.static.Live(ctx)
		} else if expected, _, err = b.live(ctx); err == nil {
			expected = b.recent(expected)
		}
		if err == nil {
			break
		}
		select {
		case <-poll.C:
			continue
		case <-deadline.C:
		case <-ctx.Done():
		}
		ack.Took = b.now().Sub(start)
		return ack, err
	}
	ack.Nodes = make([]surrogate.NodeAck, len(expected))
	pending := make(map[int]bool, len(expected))
	names := make([]string, len(expected))
	for i, mb := range expected {
		ack.Nodes[i] = surrogate.NodeAck{Node: mb.ID, State: surrogate.AckLagging}
		pending[i] = true
		names[i] = mb.ID
	}
	b.pollApplied(ctx, lis, names)
	var ctxErr error
wait:
	for {
		var changed <-chan struct{}
		for i := range pending {
			p, ok, ch := lis.get(ack.Nodes[i].Node)
			changed = ch
			if !ok {
				continue
			}
			if st, done := p.covers(entry); done {
				ack.Nodes[i].State, ack.Nodes[i].After = st, b.now().Sub(start)
				delete(pending, i)
			}
		}
		if len(pending) == 0 {
			break
		}
		select {
		case <-changed:
		case <-poll.C:
			b.pollApplied(ctx, lis, names)
		case <-deadline.C:
			break wait
		case <-ctx.Done():
			ctxErr = ctx.Err()
			break wait
		}
	}
	ack.Complete = len(pending) == 0
	if !ack.Complete {
		b.classify(ctx, &ack, pending, sid.ms)
	}
	ack.Took = b.now().Sub(start)
	return ack, ctxErr
}

// pollApplied reads the applied positions of nodes into lis.
func (b *Bus) pollApplied(ctx context.Context, lis *listener, nodes []string) {
	if len(nodes) == 0 {
		return
	}
	vals, err := b.rdb.HMGet(ctx, b.applied, nodes...).Result()
	if err != nil {
		b.log.Debug("redisbus: applied positions", zap.Error(err))
		return
	}
	for i, v := range vals {
		if s, ok := v.(string); ok {
			if p, ok := parsePosition(s); ok {
				lis.merge(nodes[i], p)
			}
		}
	}
}

// classify sets the pending nodes to lagging (heard from since the entry
// was appended, at publishedMS by Redis's clock) or unreachable.
func (b *Bus) classify(ctx context.Context, ack *surrogate.Ack, pending map[int]bool, publishedMS uint64) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.block)
	defer cancel()
	live, _, err := b.live(cctx)
	seen := map[string]time.Time{}
	if err == nil {
		for _, m := range live {
			seen[m.ID] = m.LastSeen
		}
	}
	for i := range pending {
		last, ok := seen[ack.Nodes[i].Node]
		if ok && last.UnixMilli() >= int64(publishedMS) {
			ack.Nodes[i].State = surrogate.AckLagging
		} else {
			ack.Nodes[i].State = surrogate.AckUnreachable
		}
	}
}
