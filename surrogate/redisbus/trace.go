package redisbus

import (
	"time"

	"github.com/edgekit/edgekit/surrogate"
)

// Trace holds functions a Bus calls at events of the purge log, for
// metrics and logs, in the style of net/http/httptrace.ClientTrace. Any
// field may be nil. The functions run synchronously on the goroutine of
// the event (a publisher's, the reader's), possibly on several at once:
// they must be safe for concurrent use, return quickly and not block. A
// Trace must not be changed once given to New. (The fleet's
// acknowledgement of a purge is reported by the Purger that published it:
// surrogate.Trace.Acknowledged.)
type Trace struct {
	// Appended is called when a purge was appended to the log (XADD), or
	// failed to be.
	Appended func(AppendEvent)
	// Delivered is called when the reader hands a purge read from the
	// log to the subscriber (before it is applied).
	Delivered func(DeliverEvent)
	// Resynced is called when this node found it could not know which
	// purges it missed and marked everything stale (Stats.Resyncs).
	Resynced func(ResyncEvent)
	// Error is called when a Redis operation of the reader or the
	// heartbeat failed (it is retried).
	Error func(ErrorEvent)
}

// AppendEvent is a purge appended to the log, for Trace.Appended.
// A plain value, safe for concurrent use while no goroutine changes it.
type AppendEvent struct {
	// ID is the purge's; Entry its stream entry ID (empty with Err).
	ID, Entry string
	Duration  time.Duration
	Err       error
}

// DeliverEvent is a purge read from the log, for Trace.Delivered.
// A plain value, safe for concurrent use while no goroutine changes it.
type DeliverEvent struct {
	Message surrogate.Message
	// Entry is its stream entry ID; Lag the time from its append (by
	// Redis's clock) to now (by this node's): the propagation delay, as
	// far as the clocks agree.
	Entry string
	Lag   time.Duration
}

// ResyncEvent is a resync, for Trace.Resynced.
// A plain value, safe for concurrent use while no goroutine changes it.
type ResyncEvent struct {
	Why string
}

// ErrorEvent is a failed Redis operation, for Trace.Error.
// A plain value, safe for concurrent use while no goroutine changes it.
type ErrorEvent struct {
	// Op is "read", "sync", "record" or "heartbeat".
	Op  string
	Err error
}

func (b *Bus) traceError(op string, err error) {
	if b.trace != nil && b.trace.Error != nil {
		b.trace.Error(ErrorEvent{Op: op, Err: err})
	}
}

func (b *Bus) traceDelivered(m surrogate.Message, entry string) {
	if b.trace == nil || b.trace.Delivered == nil {
		return
	}
	e := DeliverEvent{Message: m, Entry: entry}
	if id, ok := parseID(entry); ok {
		e.Lag = b.now().Sub(time.UnixMilli(int64(id.ms)))
	}
	b.trace.Delivered(e)
}
