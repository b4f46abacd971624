package storepeers

import (
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/edgekit/edgekit/internal/store"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/maypok86/otter/v2"
)

// The workloads are internal/store's (bench_test.go): 16k keys, 64-byte
// values, "uniform" sweeping the keys in order from a random start, "zipf"
// drawing them with s = 0.99; reads from every core, with one Set (a
// replacement) in ten for the mix.
const keys = 1 << 14

type peer struct {
	name string
	open func([]string) (get func(string), set func(string, []byte))
}

var value = make([]byte, 64)

var peers = []peer{
	{"store", func(ks []string) (func(string), func(string, []byte)) {
		s, err := store.New(store.Config[string, []byte]{MaxBytes: 1 << 30})
		if err != nil {
			panic(err)
		}
		set := func(k string, v []byte) { s.Set(k, v, int64(len(k)+len(v)), time.Time{}) }
		for _, k := range ks {
			set(k, value)
		}
		return func(k string) { s.Get(k) }, set
	}},
	{"otter", func(ks []string) (func(string), func(string, []byte)) {
		c := otter.Must(&otter.Options[string, []byte]{
			MaximumWeight: 1 << 30,
			Weigher:       func(k string, v []byte) uint32 { return uint32(len(k) + len(v)) },
		})
		for _, k := range ks {
			c.Set(k, value)
		}
		return func(k string) { c.GetIfPresent(k) }, func(k string, v []byte) { c.Set(k, v) }
	}},
	{"golang-lru", func(ks []string) (func(string), func(string, []byte)) {
		c, err := lru.New[string, []byte](len(ks) * 2)
		if err != nil {
			panic(err)
		}
		for _, k := range ks {
			c.Add(k, value)
		}
		return func(k string) { c.Get(k) }, func(k string, v []byte) { c.Add(k, v) }
	}},
}

func keyNames() []string {
	ks := make([]string, keys)
	for i := range ks {
		ks[i] = "https://example.com/assets/" + strconv.Itoa(i) + ".js"
	}
	return ks
}

// zipfSeq draws 64k keys with P(k) proportional to 1/(k+1)^0.99, seeded.
func zipfSeq(ks []string) []string {
	cdf := make([]float64, len(ks))
	sum := 0.0
	for i := range cdf {
		sum += 1 / math.Pow(float64(i+1), 0.99)
		cdf[i] = sum
	}
	r := rand.New(rand.NewPCG(42, 42^0x9e3779b9))
	seq := make([]string, 1<<16)
	for i := range seq {
		j := min(sort.SearchFloat64s(cdf, r.Float64()*sum), len(ks)-1)
		seq[i] = ks[j]
	}
	return seq
}

func bench(b *testing.B, setEvery int) {
	ks := keyNames()
	for _, w := range []struct {
		name string
		seq  []string
	}{{"uniform", ks}, {"zipf", zipfSeq(ks)}} {
		for _, p := range peers {
			b.Run(w.name+"/"+p.name, func(b *testing.B) {
				get, set := p.open(ks)
				mask := len(w.seq) - 1
				b.ReportAllocs()
				defer reportCPU(b)()
				b.RunParallel(func(pb *testing.PB) {
					i := rand.IntN(len(w.seq))
					for pb.Next() {
						k := w.seq[i&mask]
						if setEvery > 0 && i%setEvery == 0 {
							set(k, value)
						} else {
							get(k)
						}
						i++
					}
				})
			})
		}
	}
}

func BenchmarkGetHitParallel(b *testing.B) { bench(b, 0) }

func BenchmarkMix90_10(b *testing.B) { bench(b, 10) }
