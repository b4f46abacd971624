package surrogate

import "time"

// Trace holds functions a Purger calls at purge events, for metrics and
// logs, in the style of net/http/httptrace.ClientTrace. Any field may be
// nil. The functions run synchronously on the goroutine of the event (the
// purging caller's, or the Bus's delivery goroutine for a remote purge),
// possibly on several at once: they must be safe for concurrent use,
// return quickly and not block. A Trace must not be changed once given to
// NewPurger.
type Trace struct {
	// Published is called when this node's purge was handed to the Bus
	// (with or without an error); not without a Bus.
	Published func(PublishInfo)
	// Applied is called for every purge applied on this node: its own
	// (Remote false) and the fleet's, received from the Bus.
	Applied func(ApplyInfo)
	// Acknowledged is called when an acknowledging Bus (AckBus) reported
	// the fleet's acknowledgement of this node's purge.
	Acknowledged func(AckInfo)
}

// PublishInfo describes a purge sent to the Bus, for Trace.Published.
// A plain value.
type PublishInfo struct {
	// ID is the purge's; Keys how many keys it names (0 with All).
	ID   string
	Keys int
	All  bool
	Mode Mode
	// Duration is the time Publish (or PublishAck, acknowledgement
	// included) took; Err is what it returned.
	Duration time.Duration
	Err      error
}

// ApplyInfo describes a purge applied on this node, for Trace.Applied.
// A plain value.
type ApplyInfo struct {
	ID string
	// From names the node that published it; Remote reports that it is
	// another node.
	From   string
	Remote bool
	Keys   int
	All    bool
	Mode   Mode
	// Objects is how many objects it removed or marked stale here.
	Objects int
}

// AckInfo describes the fleet's acknowledgement of a purge, for
// Trace.Acknowledged. Ack must not be changed.
type AckInfo struct {
	ID  string
	Ack Ack
	Err error
}

// traceApplied runs Trace.Applied for m applied with res.
func (p *Purger) traceApplied(m Message, res Result) {
	if p.trace == nil || p.trace.Applied == nil {
		return
	}
	p.trace.Applied(ApplyInfo{ID: m.ID, From: m.Node, Remote: m.Node != p.node, Keys: len(m.Keys), All: m.All,
		Mode: m.Mode, Objects: res.Objects})
}

// tracePublished runs Trace.Published and, with an Ack, Trace.Acknowledged.
func (p *Purger) tracePublished(m Message, d time.Duration, ack *Ack, err error) {
	if p.trace == nil {
		return
	}
	if p.trace.Published != nil {
		p.trace.Published(PublishInfo{ID: m.ID, Keys: len(m.Keys), All: m.All, Mode: m.Mode, Duration: d, Err: err})
	}
	if ack != nil && p.trace.Acknowledged != nil {
		p.trace.Acknowledged(AckInfo{ID: m.ID, Ack: *ack, Err: err})
	}
}
