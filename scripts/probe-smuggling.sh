#!/usr/bin/env bash
# probe-smuggling.sh: build the examples, start examples/loadbalancer and
# examples/edge (each with -front edgekit and -front net/http) in front of
# the recording backend of scripts/probesmuggle, run its payload table
# (RFC 9112 §11.2 request smuggling) through all four, and print the
# decision table. Everything listens on 127.0.0.1 only.
#
#   scripts/probe-smuggling.sh                 # the four fronts
#   EXTRA="haproxy=127.0.0.1:18085" scripts/probe-smuggling.sh
#                                              # plus a reference front already
#                                              # running before 127.0.0.1:19199
#   ONLY=chunk scripts/probe-smuggling.sh      # payloads whose name has "chunk"
#
# Ports: BASE (default 18180) .. BASE+3 for the fronts, BACKEND (default
# 127.0.0.1:19199) for the recording backend. Exit status 1 when a cell is
# flagged (a smuggled request, ambiguous framing or a desync at the backend).
set -eu
cd "$(dirname "$0")/.."
BASE=${BASE:-18180}
BACKEND=${BACKEND:-127.0.0.1:19199}
WAIT=${WAIT:-500ms}
BIN=$(mktemp -d)
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null || true; done; rm -rf "$BIN"; }
trap cleanup EXIT INT TERM
go build -o "$BIN/" ./examples/loadbalancer ./examples/edge ./scripts/probesmuggle
"$BIN/loadbalancer" -listen 127.0.0.1:$BASE -backend "$BACKEND" >/dev/null 2>&1 & pids="$pids $!"
"$BIN/loadbalancer" -listen 127.0.0.1:$((BASE+1)) -front net/http -backend "$BACKEND" >/dev/null 2>&1 & pids="$pids $!"
"$BIN/edge" -listen 127.0.0.1:$((BASE+2)) -origin "http://$BACKEND" >/dev/null 2>&1 & pids="$pids $!"
"$BIN/edge" -listen 127.0.0.1:$((BASE+3)) -front net/http -origin "http://$BACKEND" >/dev/null 2>&1 & pids="$pids $!"
# Wait (bounded) for the four fronts to listen.
for i in $(seq 50); do
	n=0
	for p in $BASE $((BASE+1)) $((BASE+2)) $((BASE+3)); do
		(exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && n=$((n+1))
	done
	[ $n -eq 4 ] && break
	sleep 0.1
done
set -- -backend "$BACKEND" -wait "$WAIT" \
	-front lb-edgekit=127.0.0.1:$BASE -front lb-net/http=127.0.0.1:$((BASE+1)) \
	-front edge-edgekit=127.0.0.1:$((BASE+2)) -front edge-net/http=127.0.0.1:$((BASE+3))
for e in ${EXTRA:-}; do set -- "$@" -front "$e"; done
[ -n "${ONLY:-}" ] && set -- "$@" -only "$ONLY"
"$BIN/probesmuggle" "$@"
