// Package memsize estimates the heap bytes that Go values really occupy,
// so byte limits count what an entry costs rather than its payload
// length: allocations rounded up to the runtime's size classes, maps with
// their groups and slack, header maps with their strings and slices.
//
// The estimates follow the Go 1.24+ runtime (swiss-table maps, the size
// classes of runtime/sizeclasses.go); tests check them against the
// runtime's own rounding and against measured heap growth. Shared strings
// (interned header names, substrings of a retained value) are counted as
// if owned, so estimates err on the side of too much.
package memsize

import "net/http"

// classes are the runtime's small-object size classes (bytes), in order.
var classes = [...]int32{8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256,
	288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792,
	2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728, 10240,
	10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672, 32768}

const (
	maxSmall = 32768
	pageSize = 8192
)

// Alloc returns the heap bytes an allocation of n bytes takes: n rounded
// up to its size class, or to whole pages above 32 KiB. Alloc(0) is 0.
func Alloc(n int) int64 {
	if n <= 0 {
		return 0
	}
	if n > maxSmall {
		return int64((n + pageSize - 1) / pageSize * pageSize)
	}
	lo, hi := 0, len(classes)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if int(classes[mid]) < n {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return int64(classes[lo])
}

// String returns the bytes of a string's own allocation (its header is
// counted where it is stored).
func String(s string) int64 { return Alloc(len(s)) }

// Sizes of the runtime's map structures (64-bit).
const (
	mapHeader   = 48   // internal/runtime/maps.Map
	tableHeader = 32   // internal/runtime/maps.table
	groupSlots  = 8    // slots per group
	ctrlWord    = 8    // a group's control bytes
	maxTable    = 1024 // slots in one table before it splits
)

// Map returns the bytes of a map of n entries whose key and value
// together take slot bytes (a string key and a []string value: 40), not
// counting what keys and values point to. Up to 8 entries live in one
// group; beyond, tables of a power-of-two capacity at most 7/8 full, as a
// map grows by doubling.
func Map(n, slot int) int64 {
	if n <= 0 {
		return mapHeader
	}
	group := ctrlWord + groupSlots*slot
	if n <= groupSlots {
		return mapHeader + Alloc(group)
	}
	capacity := groupSlots
	for capacity*7/8 < n {
		capacity *= 2
	}
	tables := max(capacity/maxTable, 1)
	perTable := capacity / tables
	return mapHeader + Alloc(8*tables) + int64(tables)*(Alloc(tableHeader)+Alloc(perTable/groupSlots*group))
}

// Entry returns the average bytes one entry of slot bytes adds to a large,
// growing map: a slot and its control byte at the average load of a table
// that doubles when 7/8 full (between 7/16 and 7/8, so about 2/3).
func Entry(slot int) int64 { return int64((slot + 1) * 3 / 2) }

// Header returns the bytes an http.Header holds as Header.Clone leaves it:
// the map, one backing array for all value slices, and every key and
// value string.
func Header(h http.Header) int64 {
	values := 0
	var n int64
	for k, vs := range h {
		n += String(k)
		for _, v := range vs {
			n += String(v)
		}
		values += len(vs)
	}
	return n + Map(len(h), 16+24) + Alloc(16*values)
}
