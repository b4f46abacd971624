package cache

import (
	"math"
	"net/http"
	"strings"
	"unsafe"

	"github.com/edgekit/edgekit/internal/memsize"
)

// ownHeader copies a header to be stored into memory of the cache's own
// and returns it with the bytes it holds. A transport may hand over
// values that are substrings of one string holding the whole response
// head (internal/h1 does), so keeping them would keep the head, status
// line, framing and hop-by-hop fields included, beside the stored
// response. The copy puts all values in one string, shares the names of
// common fields with static strings, and gives every other name a copy.
// Its cost is exact up to the map estimate: the map (memsize.Map), the
// value slices' backing array, the values' string and the copied names.
func ownHeader(h http.Header) (http.Header, int64) {
	type field struct {
		name       string
		start, end int // values[start:end]
	}
	size, nv := 0, 0
	for _, vs := range h {
		for _, v := range vs {
			size += len(v)
		}
		nv += len(vs)
	}
	var b strings.Builder
	b.Grow(size)
	// Scratch on the stack for the usual header; append moves a larger
	// one to the heap.
	var boundsBuf [32]int
	var fieldsBuf [24]field
	bounds, fields := boundsBuf[:0], fieldsBuf[:0]
	cost := memsize.Map(len(h), 16+24) + memsize.Alloc(16*nv) + memsize.Alloc(size)
	for k, vs := range h {
		if s, ok := commonFields[k]; ok {
			k = s
		} else {
			k = strings.Clone(k)
			cost += memsize.String(k)
		}
		fields = append(fields, field{k, len(bounds), len(bounds) + len(vs)})
		for _, v := range vs {
			bounds = append(bounds, b.Len())
			b.WriteString(v)
		}
	}
	bounds = append(bounds, b.Len())
	all := b.String()
	values := make([]string, nv)
	for i := range values {
		values[i] = all[bounds[i]:bounds[i+1]]
	}
	out := make(http.Header, len(fields))
	for _, f := range fields {
		out[f.name] = values[f.start:f.end:f.end]
	}
	return out, cost
}

// commonFields holds static copies of the names of fields responses
// commonly carry, so stored headers share them.
var commonFields = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"Accept-Ranges", "Access-Control-Allow-Origin", "Age", "Alt-Svc", "Cache-Control",
		"Cache-Tag", "Cdn-Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language",
		"Content-Length", "Content-Location", "Content-Security-Policy", "Content-Type", "Date",
		"Etag", "Expires", "Last-Modified", "Link", "Location", "Referrer-Policy", "Server", "Strict-Transport-Security",
		"Surrogate-Control", "Surrogate-Key", "Timing-Allow-Origin", "Vary", "Via", "X-Cache", "X-Content-Type-Options",
		"X-Frame-Options", "X-Key", "X-Powered-By", "Xkey"} {
		m[k] = k
	}
	return m
}()

// ownBody returns the body the cache keeps: b itself when its capacity
// is its size class (or, above 32 KiB, within a page of its length), else
// a copy of exact size. A body read into a growing buffer (512 bytes for
// a 56-byte body, 1 MiB for 513 KiB) would otherwise hold the slack for
// as long as it is stored.
func ownBody(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	if int64(cap(b)) <= memsize.Alloc(len(b)) {
		return b
	}
	return append([]byte(nil), b...) // rounded up to the size class only
}

var (
	variantSize = memsize.Alloc(int(unsafe.Sizeof(variant{})))
	objectSize  = memsize.Alloc(int(unsafe.Sizeof(object{})))
)

// variantCost estimates the heap a stored variant holds, so that MaxBytes
// bounds real memory: the variant itself, the body's allocation (its
// capacity rounded to the size class, not its length), the header as
// ownHeader counts it, the Vary names and the
// selecting values, the strings of qualified directives, and what the
// caller retains beside it. The key, the object and the store's
// bookkeeping are counted in put and by the store (its nodes, index and sketch).
// TestCostCoversHeap checks the sum against measured heap growth.
func variantCost(v *variant) int64 {
	n := variantSize + memsize.Alloc(cap(v.body)) + int64(v.headerCost) + int64(v.retained)
	n += memsize.Alloc(16 * cap(v.vary))
	for _, name := range v.vary {
		n += memsize.String(name)
	}
	if v.selecting != nil {
		n += memsize.Map(len(v.selecting), 32)
		for _, s := range v.selecting {
			n += memsize.String(s)
		}
	}
	for _, fields := range [][]string{v.d.NoCacheFields, v.d.PrivateFields} {
		n += memsize.Alloc(16 * cap(fields))
		for _, f := range fields {
			n += memsize.String(f)
		}
	}
	return n
}

// clamp32 bounds a byte count to the variant's 32-bit fields; an entry
// cannot cost more than store.MaxEntryLimit anyway.
func clamp32(n int64) uint32 { return uint32(min(max(n, 0), math.MaxUint32)) }

// The variant record stays in the 288-byte size class.
var _ [288 - unsafe.Sizeof(variant{})]byte
