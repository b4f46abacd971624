package store

import (
	"sync/atomic"
	"unsafe"

	"github.com/edgekit/edgekit/internal/race"
)

// storeRelaxed stores v in *p without the full fence of atomic.Store (an
// XCHG on amd64), for the lossy read buffer, whose readers need no ordering
// with anything else and tolerate a lost or late write by design. A word
// store cannot tear, and readers use atomic loads. Under the race detector,
// which would report the plain store, it is atomic.
func storeRelaxed(p *atomic.Uint64, v uint64) {
	if race.Enabled {
		p.Store(v)
		return
	}
	*(*uint64)(unsafe.Pointer(p)) = v
}
