package redisbus

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/edgekit/edgekit/surrogate"
)

// An entry on the stream holds these fields. e and s are set by the
// append script (the log's epoch and the entry's sequence number in it);
// the rest is the purge.
const (
	fVersion = "v"
	fEpoch   = "e"
	fSeq     = "s"
	fID      = "id"
	fNode    = "node"
	fMode    = "mode"
	fAll     = "all"
	fKeys    = "keys"
	version  = "1"
)

// Bounds on what a reader accepts from the stream.
const (
	maxKeys      = 1 << 16
	maxEntrySize = 1 << 20
)

// encode returns the purge fields of m (without e and s), as field/value
// pairs. Keys travel as netstrings ("<len>:<bytes>"), so any byte
// sequence survives.
func encode(m surrogate.Message) []any {
	var keys strings.Builder
	for _, k := range m.Keys {
		keys.WriteString(strconv.Itoa(len(k)))
		keys.WriteByte(':')
		keys.WriteString(k)
	}
	all := "0"
	if m.All {
		all = "1"
	}
	return []any{fVersion, version, fID, m.ID, fNode, m.Node, fMode, m.Mode.String(), fAll, all, fKeys, keys.String()}
}

// header is an entry's place in the log.
type header struct {
	epoch string
	seq   int64
}

// decodeHeader reads e and s; ok is false for an entry the append script
// did not write (another writer's).
func decodeHeader(v map[string]any) (h header, ok bool) {
	e, ok1 := v[fEpoch].(string)
	s, ok2 := v[fSeq].(string)
	if !ok1 || !ok2 || e == "" {
		return header{}, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return header{}, false
	}
	return header{epoch: e, seq: n}, true
}

// decode reads the purge in an entry's fields. Anything unexpected is an
// ErrMalformed.
func decode(v map[string]any) (surrogate.Message, error) {
	var m surrogate.Message
	str := func(f string) string { s, _ := v[f].(string); return s }
	size := 0
	for k, x := range v {
		s, _ := x.(string)
		size += len(k) + len(s)
	}
	if size > maxEntrySize {
		return m, fmt.Errorf("%w: %d bytes", ErrMalformed, size)
	}
	if ver := str(fVersion); ver != version {
		return m, fmt.Errorf("%w: version %q", ErrMalformed, ver)
	}
	m.ID, m.Node = str(fID), str(fNode)
	if m.ID == "" {
		return m, fmt.Errorf("%w: no id", ErrMalformed)
	}
	switch str(fMode) {
	case "hard":
	case "soft":
		m.Mode = surrogate.Soft
	default:
		return m, fmt.Errorf("%w: mode %q", ErrMalformed, str(fMode))
	}
	switch str(fAll) {
	case "0", "":
	case "1":
		m.All = true
	default:
		return m, fmt.Errorf("%w: all %q", ErrMalformed, str(fAll))
	}
	keys, err := decodeKeys(str(fKeys))
	if err != nil {
		return m, err
	}
	m.Keys = keys
	if !m.All && len(m.Keys) == 0 {
		return m, fmt.Errorf("%w: no keys", ErrMalformed)
	}
	return m, nil
}

func decodeKeys(s string) ([]string, error) {
	var keys []string
	for s != "" {
		n, rest, ok := strings.Cut(s, ":")
		l, err := strconv.Atoi(n)
		if !ok || err != nil || l < 0 || l > len(rest) || len(n) > 8 {
			return nil, fmt.Errorf("%w: keys", ErrMalformed)
		}
		if len(keys) == maxKeys {
			return nil, fmt.Errorf("%w: more than %d keys", ErrMalformed, maxKeys)
		}
		keys = append(keys, rest[:l])
		s = rest[l:]
	}
	return keys, nil
}

// streamID is a stream entry ID, ms-seq.
type streamID struct{ ms, seq uint64 }

func parseID(s string) (streamID, bool) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return streamID{}, false
	}
	ms, err1 := strconv.ParseUint(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	return streamID{ms, seq}, err1 == nil && err2 == nil
}

func (a streamID) less(b streamID) bool { return a.ms < b.ms || a.ms == b.ms && a.seq < b.seq }

// epochTime is the creation time (Redis's clock, microseconds) an epoch
// starts with: a later epoch replaced an earlier one.
func epochTime(e string) int64 {
	t, _, _ := strings.Cut(e, "-")
	n, _ := strconv.ParseInt(t, 10, 64)
	return n
}
