// Package geoiptest writes small MaxMind DB files (format 2.0, IPv6
// tree, 32-bit records, GeoLite2-City layout) for tests of GeoDNS
// steering, so that no test downloads a database: geoip.OpenBytes (or
// a file written with the bytes) reads what Write returns.
//
// Its functions are safe for concurrent use.
package geoiptest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
)

// ErrUnsupported reports a value Write cannot encode: a type outside the
// list of Write, or a string, map or slice of 29 elements or more.
var ErrUnsupported = errors.New("geoiptest: unsupported value")

// mmdbValue is a value of a record: string, float64, uint16, uint32,
// uint64, map[string]any or []any.
type mmdbValue = any

func encodeValue(buf *bytes.Buffer, v mmdbValue) error {
	var err error
	ctrl := func(typ, size int) {
		if size >= 29 {
			err = fmt.Errorf("%w: %d elements", ErrUnsupported, size)
			return
		}
		if typ <= 7 {
			buf.WriteByte(byte(typ<<5 | size))
		} else {
			buf.WriteByte(byte(size))
			buf.WriteByte(byte(typ - 7))
		}
	}
	uint := func(typ int, x uint64) {
		var b []byte
		for x > 0 {
			b = append([]byte{byte(x)}, b...)
			x >>= 8
		}
		ctrl(typ, len(b))
		buf.Write(b)
	}
	switch x := v.(type) {
	case nil:
		return fmt.Errorf("%w: nil", ErrUnsupported)
	case string:
		ctrl(2, len(x))
		buf.WriteString(x)
	case float64:
		ctrl(3, 8)
		binary.Write(buf, binary.BigEndian, math.Float64bits(x))
	case uint16:
		uint(5, uint64(x))
	case uint32:
		uint(6, uint64(x))
	case uint64:
		uint(9, x)
	case map[string]mmdbValue:
		ctrl(7, len(x))
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if err := encodeValue(buf, k); err != nil {
				return err
			}
			if err := encodeValue(buf, x[k]); err != nil {
				return err
			}
		}
	case []mmdbValue:
		ctrl(11, len(x))
		for _, e := range x {
			if err := encodeValue(buf, e); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("%w: %T", ErrUnsupported, v)
	}
	return err
}

type trieNode struct {
	child [2]*trieNode
	data  int // index into records + 1 on a leaf; 0: empty
}

// Write returns a database mapping each network to its record (as
// GeoLite2 records: "country": {"iso_code": "DE"}, "continent": {"code":
// "EU"}, "location": {"latitude": 52.5, "longitude": 13.4}; City makes
// one). Networks must not nest; values are string, float64, uint16,
// uint32, uint64, map[string]any or []any, else ErrUnsupported.
func Write(networks map[netip.Prefix]map[string]any) ([]byte, error) {
	for p := range networks {
		if !p.IsValid() {
			return nil, fmt.Errorf("%w: invalid network", ErrUnsupported)
		}
	}
	root := &trieNode{}
	var records [][]byte
	for p, rec := range networks {
		addr, bits := p.Addr(), p.Bits()
		if addr.Is4() {
			addr, bits = netip.AddrFrom16(addr.As16()), bits+96
			a := addr.As16()
			a[10], a[11] = 0, 0 // ::a.b.c.d, not ::ffff:a.b.c.d
			addr = netip.AddrFrom16(a)
		}
		var buf bytes.Buffer
		if err := encodeValue(&buf, rec); err != nil {
			return nil, err
		}
		records = append(records, buf.Bytes())
		n := root
		a := addr.As16()
		for i := range bits {
			bit := a[i/8] >> (7 - i%8) & 1
			if n.child[bit] == nil {
				n.child[bit] = &trieNode{}
			}
			n = n.child[bit]
		}
		n.data = len(records)
	}
	// Number the inner nodes breadth first; the root is node 0.
	var nodes []*trieNode
	index := map[*trieNode]int{}
	for q := []*trieNode{root}; len(q) > 0; q = q[1:] {
		n := q[0]
		index[n] = len(nodes)
		nodes = append(nodes, n)
		for _, c := range n.child {
			if c != nil && c.data == 0 {
				q = append(q, c)
			}
		}
	}
	var data bytes.Buffer
	offsets := make([]int, len(records))
	for i, r := range records {
		offsets[i] = data.Len()
		data.Write(r)
	}
	nodeCount := len(nodes)
	var out bytes.Buffer
	for _, n := range nodes {
		for _, c := range n.child {
			var v uint32
			switch {
			case c == nil:
				v = uint32(nodeCount) // no data
			case c.data > 0:
				v = uint32(nodeCount + 16 + offsets[c.data-1])
			default:
				v = uint32(index[c])
			}
			binary.Write(&out, binary.BigEndian, v)
		}
	}
	out.Write(make([]byte, 16))
	out.Write(data.Bytes())
	out.WriteString("\xab\xcd\xefMaxMind.com")
	err := encodeValue(&out, map[string]mmdbValue{
		"binary_format_major_version": uint16(2),
		"binary_format_minor_version": uint16(0),
		"build_epoch":                 uint64(1700000000),
		"database_type":               "GeoLite2-City",
		"description":                 map[string]mmdbValue{"en": "edgekit test"},
		"ip_version":                  uint16(6),
		"languages":                   []mmdbValue{"en"},
		"node_count":                  uint32(nodeCount),
		"record_size":                 uint16(32),
	})
	if err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// City is the record of a GeoLite2-City database for a place.
func City(country, continent string, lat, lon float64) map[string]any {
	return map[string]mmdbValue{
		"continent": map[string]mmdbValue{"code": continent},
		"country":   map[string]mmdbValue{"iso_code": country},
		"location":  map[string]mmdbValue{"latitude": lat, "longitude": lon, "accuracy_radius": uint16(100)},
	}
}
