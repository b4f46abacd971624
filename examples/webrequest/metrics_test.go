package main

import (
	"math"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// TestQuantileAsPromQL: quantiles interpolate within the bucket that holds
// the rank, as histogram_quantile does.
func TestQuantileAsPromQL(t *testing.T) {
	h := func(count uint64, cum ...uint64) *dto.Metric {
		var bs []*dto.Bucket
		for i, c := range cum {
			bs = append(bs, &dto.Bucket{UpperBound: proto.Float64([]float64{0.001, 0.01, 0.1}[i]), CumulativeCount: proto.Uint64(c)})
		}
		return &dto.Metric{Histogram: &dto.Histogram{SampleCount: proto.Uint64(count), Bucket: bs}}
	}
	// Two series summed: 10 below 1 ms, 90 more below 10 ms, none above.
	b := mergeBuckets([]*dto.Metric{h(50, 5, 50, 50), h(50, 5, 50, 50)})
	for _, c := range []struct{ q, want float64 }{{0.05, 0.0005}, {0.5, 0.001 + 0.009*40/90}, {0.99, 0.001 + 0.009*89/90}} {
		if got := b.quantile(c.q); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("q%.2f = %g, want %g", c.q, got, c.want)
		}
	}
	// Past the last finite bound: that bound.
	if got := mergeBuckets([]*dto.Metric{h(10, 0, 0, 5)}).quantile(0.99); got != 0.1 {
		t.Errorf("past the buckets: %g", got)
	}
	if got := (buckets{}).quantile(0.5); got != 0 {
		t.Errorf("empty: %g", got)
	}
}
