package main

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// small is a workload that runs in well under a second: the caches warm
// up, one purge happens (every 5000 requests), nothing expires (6000
// requests are 30 simulated seconds).
var small = Workload{Nodes: 4, Objects: 300, Requests: 6000, Zipf: 0.9, Seed: 7}

func rowsByDesign(t *testing.T, res *Result, size int64) map[string]Row {
	t.Helper()
	m := map[string]Row{}
	for _, r := range res.Rows {
		if r.CacheBytes == size {
			m[r.Design] = r
		}
	}
	if len(m) != len(Designs) {
		t.Fatalf("size %d: rows %v", size, m)
	}
	return m
}

// The shield sends no more requests to the origin than independent
// caches, and with caches that hold everything about the distinct
// objects requested (issue #18 §3: not N times that), while independent
// caches fetch each object once per edge that sees it.
func TestShieldOffloadsOrigin(t *testing.T) {
	sizes := []int64{256 << 10, 64 << 20}
	res, err := Simulate(context.Background(), small, sizes, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != len(sizes)*len(Designs) {
		t.Fatalf("%d rows", len(res.Rows))
	}
	for _, r := range res.Rows {
		if r.Errors != 0 || r.Requests != small.Requests {
			t.Errorf("%+v: errors or requests lost", r)
		}
		// A purge reaches every copy, the shield tier's included.
		if r.Outdated != 0 {
			t.Errorf("%s %d: %d responses with a purged version", r.Design, r.CacheBytes, r.Outdated)
		}
		for _, v := range []float64{r.HitRatio, r.Offload} {
			if v < 0 || v > 1 || math.IsNaN(v) {
				t.Errorf("%s %d: ratio %v out of [0,1]", r.Design, r.CacheBytes, v)
			}
		}
		var load uint64
		for _, l := range r.Load {
			load += l
		}
		if want := uint64(r.Requests) + uint64(r.PeerRequests); load != want {
			t.Errorf("%s: nodes served %d requests, want clients' and peers' %d", r.Design, load, want)
		}
		if (r.Design == Shield.String()) != (r.PeerRequests > 0) {
			t.Errorf("%s: %d peer requests", r.Design, r.PeerRequests)
		}
		if r.Imbalance < 1 {
			t.Errorf("%s: max/mean %v < 1", r.Design, r.Imbalance)
		}
	}
	for _, size := range sizes {
		m := rowsByDesign(t, res, size)
		ind, ch, sh := m[Independent.String()], m[ConsistentHash.String()], m[Shield.String()]
		if sh.OriginRequests > ind.OriginRequests || ch.OriginRequests > ind.OriginRequests {
			t.Errorf("%d: origin requests shield %d, consistent-hash %d, independent %d", size, sh.OriginRequests, ch.OriginRequests, ind.OriginRequests)
		}
		if ch.HitRatio <= ind.HitRatio {
			t.Errorf("%d: consistent-hash hit %.3f <= independent %.3f", size, ch.HitRatio, ind.HitRatio)
		}
	}
	big := rowsByDesign(t, res, 64<<20)
	// Everything fits: origin requests are first requests plus the one
	// purge's refetches (1% of objects).
	if sh := big[Shield.String()]; float64(sh.OriginRequests) > 1.05*float64(res.Distinct) {
		t.Errorf("shield: %d origin requests for %d distinct objects", sh.OriginRequests, res.Distinct)
	}
	if ind := big[Independent.String()]; float64(ind.OriginRequests) < 2*float64(res.Distinct) {
		t.Errorf("independent: %d origin requests for %d distinct objects over %d edges", ind.OriginRequests, res.Distinct, small.Nodes)
	}
}

// The same seed draws the same workload; another seed another one. The
// hit ratios repeat closely (the caches' shard hash is seeded per
// process, which moves a few evictions).
func TestDeterministicForSeed(t *testing.T) {
	a, b := newCatalogue(small), newCatalogue(small)
	if !slices.Equal(a.order, b.order) || !slices.Equal(a.sizes, b.sizes) || !slices.Equal(a.ttls, b.ttls) || !slices.Equal(a.client, b.client) {
		t.Fatal("same seed, different workloads")
	}
	other := small
	other.Seed++
	if slices.Equal(a.order, newCatalogue(other).order) {
		t.Fatal("another seed, the same requests")
	}
	sizes := []int64{2 << 20}
	r1, err := Simulate(context.Background(), small, sizes, 1)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Simulate(context.Background(), small, sizes, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range r1.Rows {
		x, y := r1.Rows[i], r2.Rows[i]
		if x.Design != y.Design || math.Abs(x.HitRatio-y.HitRatio) > 0.025 || math.Abs(x.Offload-y.Offload) > 0.025 {
			t.Errorf("run 1 %s hit %.4f offload %.4f, run 2 %s hit %.4f offload %.4f", x.Design, x.HitRatio, x.Offload, y.Design, y.HitRatio, y.Offload)
		}
	}
}

// The popularity is Zipf: the most requested object is asked about
// 1/H(n, s) of the time.
func TestZipfPopularity(t *testing.T) {
	w := Workload{Nodes: 1, Objects: 100, Requests: 200000, Zipf: 1, Seed: 3}
	c := newCatalogue(w)
	count := map[int32]int{}
	for _, id := range c.order {
		count[id]++
	}
	most := 0
	for _, n := range count {
		most = max(most, n)
	}
	h := 0.0
	for k := 1; k <= w.Objects; k++ {
		h += 1 / float64(k)
	}
	want := float64(w.Requests) / h
	if math.Abs(float64(most)-want) > 0.05*want {
		t.Errorf("most popular asked %d times, want about %.0f", most, want)
	}
	uniform := newCatalogue(Workload{Nodes: 1, Objects: 100, Requests: 200000, Zipf: 0, Seed: 3})
	clear(count)
	for _, id := range uniform.order {
		count[id]++
	}
	for id, n := range count {
		if n < 1500 || n > 2500 {
			t.Errorf("zipf 0: object %d asked %d times, want about 2000", id, n)
		}
	}
}

// TestCommandLine: -h prints the usage to stderr and exits 0; a bad
// command line prints its error once, naming the flag, and exits 2.
func TestCommandLine(t *testing.T) {
	for _, c := range []struct {
		args     []string
		code     int
		want     string
		wantOnce string
	}{
		{[]string{"-h"}, 0, "-zipf", "Usage of fleet"},
		{[]string{"-nope"}, 2, "Usage of fleet", "flag provided but not defined: -nope"},
		{[]string{"extra"}, 2, "", `unexpected argument "extra"`},
		{[]string{"-nodes", "0"}, 2, "", "-nodes 0: must be 1..64"},
		{[]string{"-nodes", "65"}, 2, "", "-nodes 65: must be 1..64"},
		{[]string{"-objects", "0"}, 2, "", "-objects 0: must be"},
		{[]string{"-requests", "-1"}, 2, "", "-requests -1: must be"},
		{[]string{"-zipf", "-0.5"}, 2, "", "-zipf -0.5: must be 0..3"},
		{[]string{"-zipf", "NaN"}, 2, "", "-zipf NaN: must be 0..3"},
		{[]string{"-zipf", "x"}, 2, "", `invalid value "x" for flag -zipf`},
		{[]string{"-cache", "1KiB"}, 2, "", "at least 64KiB"},
		{[]string{"-cache", "4MiB,"}, 2, "", `size "": want a positive number`},
		{[]string{"-cache", "4TiB"}, 2, "", `size "4TiB"`},
		{[]string{"-cache", "65GiB"}, 2, "", "at most 64GiB"},
		{[]string{"-cache", "-1MiB"}, 2, "", `size "-1MiB"`},
		{[]string{"-seed", "-1"}, 2, "", `invalid value "-1" for flag -seed`},
		{[]string{"-out", "chart.jpg"}, 2, "", `-out "chart.jpg": must end in .svg or .png`},
	} {
		var stdout, stderr bytes.Buffer
		code := cli(c.args, &stdout, &stderr)
		s := stderr.String()
		if code != c.code || !strings.Contains(s, c.want) || strings.Count(s, c.wantOnce) != 1 ||
			strings.Contains(s, "help requested") || strings.Contains(s, "fleet: fleet:") || stdout.Len() != 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr:\n%s", c.args, code, stdout.String(), s)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"64KiB": 64 << 10, "4MiB": 4 << 20, "1GiB": 1 << 30, "65536": 65536, "100000B": 100000, "64GiB": 64 << 30} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("%q: %d, %v; want %d", in, got, err, want)
		}
	}
}

// A small run through the command line prints the table and writes the
// chart, as SVG and as PNG.
func TestRunWritesTableAndChart(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ file, magic string }{{"fleet.svg", "<?xml"}, {"fleet.png", "\x89PNG"}} {
		out := filepath.Join(dir, c.file)
		var stdout, stderr bytes.Buffer
		code := cli([]string{"-nodes", "3", "-objects", "100", "-requests", "1000", "-cache", "256KiB,1MiB", "-seed", "2", "-out", out}, &stdout, &stderr)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
		s := stdout.String()
		for _, want := range []string{"3 edges, 100 objects", "256KiB     independent", "1MiB       shield", "max/mean", "chart: " + out} {
			if !strings.Contains(s, want) {
				t.Errorf("output lacks %q:\n%s", want, s)
			}
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte(c.magic)) || len(b) < 1000 {
			t.Errorf("%s: %d bytes starting %q", c.file, len(b), b[:min(len(b), 8)])
		}
	}
}
