#!/usr/bin/env bash
# The store's parallel benchmarks beside golang-lru/v2 (the plain library
# the targets are stated against) and otter/v2 (the fastest byte-bounded Go
# cache), in rounds: each round runs every cache once, so a slow moment of
# the machine hits all of them. Prints, per workload, each cache's median
# ns/op and its speed-up over golang-lru per round. Runs in the nested
# module scripts/storepeers, so otter is never a dependency of edgekit.
# Not part of `go test` or CI. Needs the Go module proxy for otter.
#
#   scripts/bench-store-peers.sh          # 5 rounds of 1 s per benchmark
#   ROUNDS=9 BENCHTIME=2s scripts/bench-store-peers.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${ROUNDS:-5}
BENCHTIME=${BENCHTIME:-1s}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

(cd "$ROOT/scripts/storepeers" && go test -c -o "$WORK/peers.test" .)
for r in $(seq "$ROUNDS"); do
	"$WORK/peers.test" -test.run '^$' -test.bench . -test.benchtime "$BENCHTIME" |
		awk -v r="$r" '/^Benchmark/ {sub(/-[0-9]+$/, "", $1); print r, $1, $3}'
done >"$WORK/runs"

# Lines: round, Benchmark/workload/cache, ns/op.
awk '
function median(list,   a, n, i, j, t) {
	n = split(list, a, " ")
	for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
	return a[int((n + 1) / 2)]
}
{
	k = $2; sub(/\/[^\/]*$/, "", k); c = $2; sub(/.*\//, "", c)
	ns[k, c, $1] = $3
	if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
	if (!((k, c) in cs)) { cs[k, c] = 1; caches[k] = caches[k] " " c }
	rounds[$1] = 1
}
END {
	for (i = 1; i <= nk; i++) {
		k = order[i]; printf "%s\n", k
		n = split(caches[k], cl, " ")
		for (j = 1; j <= n; j++) {
			c = cl[j]; all = ""; ratios = ""
			for (r in rounds) {
				all = all " " ns[k, c, r]
				ratios = ratios " " sprintf("%.2f", ns[k, "golang-lru", r] / ns[k, c, r])
			}
			printf "  %-11s median %7.1f ns/op   x golang-lru: median %s  [%s ]\n", c, median(all), median(ratios), ratios
		}
	}
}' "$WORK/runs"
