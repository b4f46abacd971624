#!/usr/bin/env bash
# Loopback load test of cache-hit queries per second: examples/resolver
# beside Unbound, both answering the same name from cache, driven by
# dnsperf. Not part of `go test` or CI. Installs dnsperf and unbound with
# apt-get when missing (skip Unbound with PEERS=edgekit). Loopback only,
# bounded in time.
#
#   scripts/bench-resolver.sh            # 10 s per resolver
#   DURATION=30 CLIENTS=8 scripts/bench-resolver.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-4}
PEERS=${PEERS:-"edgekit unbound"}
WORK=$(mktemp -d)
EK_PORT=19201 UB_PORT=19202

need() { command -v "$1" >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y -qq "$2" >/dev/null; } || { echo "bench-resolver: $1 missing" >&2; return 1; }; }
need dnsperf dnsperf
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

# Both resolvers answer localhost. from local data, a pure cache-hit
# workload that needs no network beyond loopback.
printf 'localhost A\n' >"$WORK/queries"
run() { # name port
	local out
	out=$(dnsperf -s 127.0.0.1 -p "$2" -d "$WORK/queries" -l "$DURATION" -c "$CLIENTS" -Q 1000000 2>&1)
	printf "%-10s %12s queries/s   avg latency %s\n" "$1" "$(awk '/Queries per second/ {print $4}' <<<"$out")" "$(awk '/Average Latency/ {print $4}' <<<"$out")s"
}

echo "cache-hit queries (localhost. A), dnsperf -c$CLIENTS -l$DURATION, $(nproc) cores, loopback"
for peer in $PEERS; do
	case $peer in
	edgekit)
		(cd "$ROOT" && go build -o "$WORK/resolver" ./examples/resolver)
		"$WORK/resolver" -listen 127.0.0.1:$EK_PORT -forward 127.0.0.1:9 >/dev/null & pids+=($!)
		sleep 0.5
		run edgekit $EK_PORT
		;;
	unbound)
		need unbound unbound || continue
		cat >"$WORK/unbound.conf" <<UB
server:
  interface: 127.0.0.1
  port: $UB_PORT
  do-daemonize: no
  use-syslog: no
  logfile: ""
  verbosity: 0
  chroot: ""
  username: ""
  directory: "$WORK"
  pidfile: "$WORK/unbound.pid"
  num-threads: 2
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: yes
UB
		unbound -d -c "$WORK/unbound.conf" & pids+=($!)
		sleep 1
		run unbound $UB_PORT
		;;
	esac
done
