package surrogate

import (
	"context"
	"fmt"
	"time"
)

// AckBus is a Bus that can tell when every live node of the fleet has
// applied a message: an acknowledged purge. A Purger whose Bus implements
// it waits for the acknowledgement and reports it in Result.Ack.
// Implementations must be safe for concurrent use by multiple goroutines.
type AckBus interface {
	Bus
	// PublishAck publishes m as Publish does, then waits until every live
	// node has applied it, or until the Bus's acknowledgement deadline or
	// ctx ends, and reports each node's state. A deadline is not an
	// error: the Ack says who is missing. The error is Publish's, or
	// ctx's when it ended first (the Ack then holds what was known).
	PublishAck(ctx context.Context, m Message) (Ack, error)
}

// Syncer is implemented by Buses that know when this node last confirmed
// it had applied everything the fleet published (a read that reached the
// end of the purge log). A node out of touch for long may have missed
// purges; edge can then serve stored objects only after revalidation
// (edge.Config.RevalidateUnsynced).
// Implementations must be safe for concurrent use by multiple goroutines.
type Syncer interface {
	// LastSync returns when this node was last confirmed in sync; the
	// zero time means never.
	LastSync() time.Time
}

// Members reports the live nodes of a fleet: those that announced
// themselves recently (a heartbeat that expires), or a static list.
// Implementations must be safe for concurrent use by multiple goroutines.
type Members interface {
	// Live returns the live members, sorted by ID.
	Live(ctx context.Context) ([]Member, error)
}

// Member is one node of a fleet.
// A plain value, safe for concurrent use while no goroutine changes it.
type Member struct {
	// ID names the node; unique in the fleet.
	ID string `json:"id"`
	// Addr is where other nodes reach it (host:port), if it said.
	Addr string `json:"addr,omitempty"`
	// LastSeen is its last heartbeat; zero for a static member.
	LastSeen time.Time `json:"last_seen,omitzero"`
}

// StaticMembers is a fixed member list, for fleets without a membership
// service. Live returns it sorted by ID. Safe for concurrent use while no
// goroutine changes it.
type StaticMembers []Member

// Live implements Members.
func (s StaticMembers) Live(context.Context) ([]Member, error) {
	out := append([]Member(nil), s...)
	sortMembers(out)
	return out, nil
}

func sortMembers(m []Member) {
	for i := 1; i < len(m); i++ { // insertion sort: lists are small
		for j := i; j > 0 && m[j].ID < m[j-1].ID; j-- {
			m[j], m[j-1] = m[j-1], m[j]
		}
	}
}

// AckState is one node's state in an acknowledgement.
type AckState int

const (
	// AckApplied: the node applied the message.
	AckApplied AckState = iota
	// AckLagging: the node is alive (it heartbeated after the message was
	// published) but had not applied it by the deadline.
	AckLagging
	// AckUnreachable: the node has not been heard from since the message
	// was published.
	AckUnreachable
	// AckResynced: the purge log was lost (the bus's store restarted
	// without its data) after the message was published; the node
	// noticed and marked everything it holds stale (a soft purge of all),
	// which covers this message in soft form.
	AckResynced
)

var ackStateNames = [...]string{"applied", "lagging", "unreachable", "resynced"}

// String returns "applied", "lagging", "unreachable" or "resynced".
func (s AckState) String() string {
	if s >= 0 && int(s) < len(ackStateNames) {
		return ackStateNames[s]
	}
	return "unknown"
}

// MarshalText implements encoding.TextMarshaler (JSON carries the name).
func (s AckState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *AckState) UnmarshalText(b []byte) error {
	for i, n := range ackStateNames {
		if string(b) == n {
			*s = AckState(i)
			return nil
		}
	}
	return fmt.Errorf("surrogate: unknown acknowledgement state %q", b)
}

// NodeAck is one node's part of an acknowledgement.
// A plain value, safe for concurrent use while no goroutine changes it.
type NodeAck struct {
	Node  string   `json:"node"`
	State AckState `json:"state"`
	// After is how long after publishing the publisher saw the node's
	// acknowledgement (applied or resynced only).
	After time.Duration `json:"after_ns,omitempty"`
}

// Ack is a fleet's acknowledgement of one message.
// A plain value, safe for concurrent use while no goroutine changes it.
type Ack struct {
	// ID is the message's position in the bus's log.
	ID string `json:"id"`
	// Complete reports that every live node applied it (or resynced).
	Complete bool `json:"complete"`
	// Nodes are the live nodes at publication, sorted by name.
	Nodes []NodeAck `json:"nodes"`
	// Took is the time from publishing to the report.
	Took time.Duration `json:"took_ns"`
}
