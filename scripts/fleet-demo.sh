#!/usr/bin/env bash
# A fleet on loopback: redis-server, an origin and three examples/edge
# nodes sharing a purge bus and membership through Redis, first without
# and then with the shield tier (-shield). It prints the origin fetches of
# each, an acknowledged purge with each node's acknowledgement time, who
# owns what, and how ownership moves when one edge is killed. It stops
# everything it started. Installs the Debian redis-server package when
# redis-server is missing (as root). Not part of `go test` or CI.
#
#   scripts/fleet-demo.sh
#   OBJECTS=100 scripts/fleet-demo.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OBJECTS=${OBJECTS:-30}
REDIS_PORT=${REDIS_PORT:-19379}
ORIGIN_PORT=19180
EDGES=(e1 e2 e3)
declare -A PORT=([e1]=19181 [e2]=19182 [e3]=19183) ADMIN=([e1]=19191 [e2]=19192 [e3]=19193)
WORK=$(mktemp -d)
pids=()
declare -A EDGE_PID
cleanup() {
	for p in "${pids[@]}" "${EDGE_PID[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

if ! command -v redis-server >/dev/null; then
	if [ "$(id -u)" = 0 ]; then
		echo "fleet-demo: installing redis-server" >&2
		apt-get update -qq >/dev/null && apt-get install -y -qq redis-server >/dev/null
	else
		echo "fleet-demo: redis-server missing: sudo apt-get install redis-server" >&2
		exit 1
	fi
fi
command -v curl >/dev/null || { echo "fleet-demo: curl missing" >&2; exit 1; }
pretty() { if command -v python3 >/dev/null; then python3 -c "$1"; else cat; fi; }

# wait_for URL: until it answers, at most 15 s.
wait_for() {
	for _ in $(seq 150); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done
	echo "fleet-demo: $1 did not come up" >&2
	exit 1
}

echo "== building examples/edge and a counting origin"
(cd "$ROOT" && go build -o "$WORK/edge" ./examples/edge)
mkdir -p "$WORK/origin"
cat >"$WORK/origin/main.go" <<'GO'
package main

import (
	"fmt"
	"net/http"
	"os"
	"sync/atomic"
)

// An origin that counts the fetches that reach it (GET /count).
func main() {
	var n atomic.Int64
	http.HandleFunc("/count", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, n.Load()) })
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("Surrogate-Key", "demo")
		fmt.Fprintf(w, "%s (fetched through: %s)\n", r.URL.Path, r.Header.Values("Via"))
	})
	http.ListenAndServe(os.Args[1], nil)
}
GO
(cd "$WORK/origin" && cat >go.mod <<'MOD'
module origin
go 1.22
MOD
go build -o "$WORK/origin-bin" .)

echo "== redis-server on 127.0.0.1:$REDIS_PORT (no persistence)"
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --dir "$WORK" >"$WORK/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
"$WORK/origin-bin" "127.0.0.1:$ORIGIN_PORT" &
pids+=($!)
wait_for "http://127.0.0.1:$ORIGIN_PORT/count"

start_edges() { # start_edges [-shield]
	for e in "${EDGES[@]}"; do
		"$WORK/edge" -listen "127.0.0.1:${PORT[$e]}" -admin "127.0.0.1:${ADMIN[$e]}" -name "$e" \
			-origin "http://127.0.0.1:$ORIGIN_PORT" -redis "127.0.0.1:$REDIS_PORT" "$@" >"$WORK/$e.log" 2>&1 &
		EDGE_PID[$e]=$!
	done
	for e in "${EDGES[@]}"; do wait_for "http://127.0.0.1:${ADMIN[$e]}/.edge/stats"; done
	sleep 1.5 # one heartbeat and one member refresh: every node sees the three
}
stop_edges() {
	for e in "${!EDGE_PID[@]}"; do kill "${EDGE_PID[$e]}" 2>/dev/null || true; wait "${EDGE_PID[$e]}" 2>/dev/null || true; done
	EDGE_PID=()
	redis-cli -p "$REDIS_PORT" flushall >/dev/null
}
# workload: every object asked at every edge, with one Host (one site).
workload() {
	for e in "${EDGES[@]}"; do
		for i in $(seq "$OBJECTS"); do
			curl -fs -o /dev/null -H 'Host: site.test' "http://127.0.0.1:${PORT[$e]}/obj/$i"
		done
	done
}
count() { curl -fs "http://127.0.0.1:$ORIGIN_PORT/count"; }

echo "== 1. three edges, independent caches: $OBJECTS objects asked at each edge"
start_edges
before=$(count)
workload
without=$(( $(count) - before ))
echo "origin fetches: $without"
stop_edges

echo "== 2. the same with -shield (the owner fetches; the others ask the owner)"
start_edges -shield
before=$(count)
workload
with=$(( $(count) - before ))
echo "origin fetches: $with (without the shield: $without)"

echo "== 3. acknowledged purge by surrogate key 'demo' from e1"
curl -fs -X POST "http://127.0.0.1:${ADMIN[e1]}/.edge/purge?key=demo" | pretty '
import json, sys
r = json.load(sys.stdin)
f = r.get("fleet") or {}
print("purged %d objects on e1; fleet complete: %s; took %.2f ms" % (r["purged"], f.get("complete"), f.get("took_ns", 0) / 1e6))
for n in f.get("nodes", []):
    print("  %-4s %-11s after %.2f ms" % (n["node"], n["state"], n.get("after_ns", 0) / 1e6))
'

owners() { # owners EDGE: who owns the first objects, and the members as EDGE sees them
	local q=""
	for i in $(seq 12); do q="$q&owner=http://site.test/obj/$i"; done
	curl -fs "http://127.0.0.1:${ADMIN[$1]}/.edge/stats?${q#&}" | pretty '
import json, sys
s = json.load(sys.stdin)["shield"]
own = s.get("owners", {})
keys = sorted(own, key=lambda u: int(u.rsplit("/", 1)[1]))
print("  owners: " + " ".join("%s=%s" % (u.rsplit("/", 1)[1], own[u]) for u in keys))
st = s["stats"]
print("  members: " + ", ".join("%s(%s, picks %d)" % (m["id"], m["state"], m["picks"]) for m in st["members"]))
print("  owned %d, forwarded %d, from tier %d, fallbacks %d" % (st["Owned"], st["Forwarded"], st["FromTier"], st["Fallbacks"]))
'
}
echo "== 4. ownership as e1 and e2 see it (they agree; each fetched what it owns, from tier = asked by the others)"
owners e1
owners e2
echo "== 5. kill -9 e3; requests keep being served (its objects fall back to the origin, e3 is ejected)"
kill -9 "${EDGE_PID[e3]}"
wait "${EDGE_PID[e3]}" 2>/dev/null || true
unset 'EDGE_PID[e3]'
EDGES=(e1 e2)
bad=0
for i in $(seq "$OBJECTS"); do
	curl -fs -o /dev/null -H 'Host: site.test' "http://127.0.0.1:${PORT[e1]}/obj/$i?after-kill" || bad=$((bad + 1))
done
echo "requests failed right after the kill: $bad of $OBJECTS"
owners e1
echo "== 6. once e3's heartbeat has expired (3 s) and the shields re-read the members (1 s): e1 and e2"
for _ in $(seq 100); do
	n=$(curl -fs "http://127.0.0.1:${ADMIN[e1]}/.edge/stats" | pretty 'import json,sys; print(len(json.load(sys.stdin)["shield"]["stats"]["members"]))')
	[ "$n" = 2 ] && break
	sleep 0.1
done
owners e1
echo "== origin offload: $OBJECTS objects x 3 edges: $without origin fetches without the shield, $with with it"
