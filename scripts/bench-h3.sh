#!/usr/bin/env bash
# Loopback load test of cache hits at examples/edge over HTTP/1.1 and
# HTTP/2 (TLS 1.3 over TCP) and HTTP/3 (QUIC), in paired rounds, with one
# client for all three (scripts/loadh3: Go's clients; Debian's h2load has
# no QUIC), and h2load for HTTP/1.1 and HTTP/2 as a cross-check when it is
# installed. Prints requests per second and the edge's CPU time per
# request (from /proc), which the client's own cost does not skew.
# Not part of `go test` or CI. Loopback only, bounded.
#
#   scripts/bench-h3.sh                              # 3 rounds of 10 s, 8 connections x 8 streams
#   ROUNDS=5 DURATION=5s CONNS=16 STREAMS=4 FRONT=net/http scripts/bench-h3.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-10s}
CONNS=${CONNS:-8}
STREAMS=${STREAMS:-8}
ROUNDS=${ROUNDS:-3}
FRONT=${FRONT:-edgekit}
WORK=$(mktemp -d)
ORIGIN_PORT=19620 EDGE_PORT=19621 EDGE_TLS=19622
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
command -v openssl >/dev/null || { echo "bench-h3: openssl missing" >&2; exit 2; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
	-addext subjectAltName=DNS:localhost -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
mkdir -p "$WORK/origin"
cat >"$WORK/origin/main.go" <<'GO'
package main

import (
	"net/http"
	"os"
	"strings"
)

func main() {
	body := strings.Repeat("x", 1024)
	http.ListenAndServe("127.0.0.1:"+os.Args[1], http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte(body))
	}))
}
GO
(cd "$WORK/origin" && go mod init origin >/dev/null 2>&1 && go build -o "$WORK/origin-bin" .)
(cd "$ROOT" && go build -o "$WORK/edge" ./examples/edge && go build -o "$WORK/loadh3" ./scripts/loadh3)
"$WORK/origin-bin" "$ORIGIN_PORT" &
pids+=($!)
"$WORK/edge" -listen "127.0.0.1:$EDGE_PORT" -admin "" -front "$FRONT" -origin "http://127.0.0.1:$ORIGIN_PORT" \
	-tls-listen "127.0.0.1:$EDGE_TLS" -tls-cert "$WORK/cert.pem" -tls-key "$WORK/key.pem" -http3 >"$WORK/edge.log" 2>&1 &
EDGE_PID=$!
pids+=($EDGE_PID)
URL="https://localhost:$EDGE_TLS/hit"
for _ in $(seq 50); do curl -sk -o /dev/null "https://127.0.0.1:$EDGE_TLS/hit" && break; sleep 0.1; done
cat "$WORK/edge.log"
"$WORK/loadh3" -proto h3 -conns 1 -streams 1 -d 1s -ca "$WORK/cert.pem" "$URL" >/dev/null # warm: stored

cpu() { awk '{print $14 + $15}' "/proc/$EDGE_PID/stat"; } # utime + stime, clock ticks
TICK=$(getconf CLK_TCK)
run() { # label, command...
	local label=$1 before after out n
	shift
	before=$(cpu)
	out=$("$@" 2>&1)
	after=$(cpu)
	n=$(grep -oE '^[0-9]+' <<<"$(sed -nE 's/.* ([0-9]+) ok.*/\1/p; s/^requests: [0-9]+ total, [0-9]+ started, [0-9]+ done, ([0-9]+) succeeded.*/\1/p' <<<"$out")" | head -1)
	printf '%-14s %s' "$label" "$(grep -E 'req/s|^finished' <<<"$out" | head -1)"
	if [ -n "$n" ] && [ "$n" -gt 0 ]; then
		printf '   edge CPU %.1f us/req' "$(echo "($after - $before) * 1000000 / $TICK / $n" | bc -l)"
	fi
	echo
}
for r in $(seq "$ROUNDS"); do
	echo "round $r (front $FRONT, $CONNS connections x $STREAMS streams, $DURATION)"
	for p in h1 h2 h3; do
		run "loadh3 $p" "$WORK/loadh3" -proto "$p" -conns "$CONNS" -streams "$STREAMS" -d "$DURATION" -ca "$WORK/cert.pem" "$URL"
	done
	if command -v h2load >/dev/null; then
		run "h2load h1" h2load --h1 -c "$CONNS" -D "${DURATION%s}" "$URL"
		run "h2load h2" h2load -c "$CONNS" -m "$STREAMS" -D "${DURATION%s}" "$URL"
	fi
done
