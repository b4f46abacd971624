#!/usr/bin/env bash
# Loopback load test of a load balancer in front of three backends
# serving 1 KiB: examples/loadbalancer (round robin) beside HAProxy, both
# pinned to one core with taskset, driven by wrk on the other; L7 (HTTP)
# by default, L4 (TCP, each client connection spliced to one backend) with
# MODE=tcp. Not part of `go test` or CI. Installs wrk and haproxy with
# apt-get when missing.
#
#   scripts/bench-balancer.sh
#   MODE=tcp scripts/bench-balancer.sh
#   DURATION=20s CONNS=128 scripts/bench-balancer.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
MODE=${MODE:-http}
case $MODE in http | tcp) ;; *) echo "bench-balancer: MODE is http or tcp, not $MODE" >&2; exit 2 ;; esac
WORK=$(mktemp -d)
B1=19301 B2=19302 B3=19303 EK=19310 HA=19311

need() { command -v "$1" >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y -qq "$2" >/dev/null; } || { echo "bench-balancer: $1 missing" >&2; return 1; }; }
need wrk wrk
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

mkdir -p "$WORK/backend"
cat >"$WORK/backend/main.go" <<'GO'
package main

import (
	"net/http"
	"os"
	"strings"
)

func main() {
	body := []byte(strings.Repeat("x", 1024))
	http.ListenAndServe("127.0.0.1:"+os.Args[1], http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
}
GO
(cd "$ROOT" && go build -o "$WORK/backend-bin" "$WORK/backend/main.go" && go build -o "$WORK/lb" ./examples/loadbalancer)
for p in $B1 $B2 $B3; do "$WORK/backend-bin" $p & pids+=($!); done

pin=""
command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ] && pin="taskset -c 0"
run() { # name port
	for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$2/" && break; sleep 0.1; done
	local out
	out=$(${pin:+taskset -c 1} wrk -t1 -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$2/")
	printf "%-10s %12s req/s   p99 %s\n" "$1" "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" "$(awk '$1=="99%" {print $2}' <<<"$out")"
}

layer=L7
[ "$MODE" = tcp ] && layer=L4
echo "$layer round robin over 3 backends, 1 KiB, balancer on one core${pin:+ (taskset)}, wrk -t1 -c$CONNS -d$DURATION"
GOMAXPROCS=1 $pin "$WORK/lb" -mode "$MODE" -listen 127.0.0.1:$EK -policy roundrobin -backend 127.0.0.1:$B1 -backend 127.0.0.1:$B2 -backend 127.0.0.1:$B3 >/dev/null & pids+=($!)
run edgekit $EK
if need haproxy haproxy; then
	cat >"$WORK/haproxy.cfg" <<CFG
global
  nbthread 1
defaults
  mode $MODE
  timeout connect 5s
  timeout client 30s
  timeout server 30s
$([ "$MODE" = http ] && echo "  option http-keep-alive")
frontend fe
  bind 127.0.0.1:$HA
  default_backend be
backend be
  balance roundrobin
$([ "$MODE" = http ] && echo "  http-reuse always")
  server b1 127.0.0.1:$B1
  server b2 127.0.0.1:$B2
  server b3 127.0.0.1:$B3
CFG
	$pin haproxy -f "$WORK/haproxy.cfg" -db & pids+=($!)
	run haproxy $HA
fi
