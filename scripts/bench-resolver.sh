#!/usr/bin/env bash
# Loopback load test of queries per second: examples/resolver beside
# Unbound, driven by dnsperf. Not part of `go test` or CI. Installs dnsperf
# and unbound with apt-get when missing (skip Unbound with PEERS=edgekit).
# Loopback only, bounded in time. MODE picks the workload:
#   local   localhost. A, answered from local data by both (the default)
#   cached  1000 names of a loopback hierarchy, asked once to warm the
#           caches, then asked again and again: cache hits
#   miss    a new name on every query (below a wildcard of the hierarchy):
#           each one a resolution at the authoritative server
# cached and miss serve the hierarchy of scripts/resolverdiff on port 53
# of 127.0.0.2-6 (Unbound sends referred queries to port 53 only), so they
# need root.
#
# Each server runs on CORES cores (default 1: cpu 0; Unbound with as many
# threads, GOMAXPROCS for edgekit), dnsperf on the others, and the server's
# CPU time over the run (utime+stime from /proc/PID/stat) gives its busy
# cores, so each line shows queries per second and queries per busy core;
# the last line gives edgekit's ratios to Unbound's from the same run.
#
# DNSSEC=1 (with MODE=cached or miss) serves the signed hierarchy of
# scripts/signedhier instead (port 53 of 127.0.0.2-5; cached asks its 1000
# signed names, miss new names below its signed wildcard, each answer with
# a wildcard proof to check) and gives both resolvers its root DS as trust anchor,
# validation on in both (Unbound: module-config "validator iterator").
#
# BASELINE=DIR adds a peer "baseline": examples/resolver built from the
# checkout at DIR (a worktree of main, say), to compare a change with the
# code before it in the same run. ROUNDS=N runs every peer N times, one
# after the other in turn (each run with a fresh server), and ends with
# the median of each peer's runs and the ratios of the medians; the load
# average before and after is printed, since other work on the machine
# moves the numbers.
#
#   scripts/bench-resolver.sh            # 10 s per resolver
#   MODE=miss scripts/bench-resolver.sh
#   DURATION=30 CLIENTS=8 CORES=2 scripts/bench-resolver.sh
#   MODE=miss ROUNDS=5 BASELINE=/path/to/main PEERS="baseline edgekit unbound" scripts/bench-resolver.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-4}
PEERS=${PEERS:-"edgekit unbound"}
BASELINE=${BASELINE:-}
ROUNDS=${ROUNDS:-1}
MODE=${MODE:-local}
DNSSEC=${DNSSEC:-}
CORES=${CORES:-1}
NPROC=$(nproc)
[ "$CORES" -ge 1 ] && [ "$CORES" -le "$NPROC" ] || { echo "bench-resolver: CORES is 1-$NPROC" >&2; exit 2; }
SERVER_CPUS=0-$((CORES - 1))
CLIENT_CPUS=$CORES-$((NPROC - 1))
[ "$CORES" -lt "$NPROC" ] || CLIENT_CPUS=0-$((NPROC - 1)) # no core left: dnsperf shares
CLK_TCK=$(getconf CLK_TCK)
case $MODE in local | cached | miss) ;; *) echo "bench-resolver: MODE is local, cached or miss, not $MODE" >&2; exit 2 ;; esac
WORK=$(mktemp -d)
EK_PORT=19201 UB_PORT=19202 BL_PORT=19203

need() { command -v "$1" >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y -qq "$2" >/dev/null; } || { echo "bench-resolver: $1 missing" >&2; return 1; }; }
need dnsperf dnsperf
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

ek_args=(-forward 127.0.0.1:9) # local data only: nothing to forward to
ub_extra="  do-not-query-localhost: yes"
if [ "$MODE" != local ]; then
	if [ -n "$DNSSEC" ]; then
		(cd "$ROOT" && go build -o "$WORK/signedhier" ./scripts/signedhier)
		"$WORK/signedhier" -anchor "$WORK/anchor.ds" >"$WORK/hierarchy.log" 2>&1 & pids+=($!)
		sleep 3
	else
		(cd "$ROOT" && go build -o "$WORK/resolverdiff" ./scripts/resolverdiff)
		"$WORK/resolverdiff" serve >"$WORK/hierarchy.log" 2>&1 & pids+=($!)
		sleep 0.5
	fi
	kill -0 "${pids[0]}" 2>/dev/null || { cat "$WORK/hierarchy.log" >&2; exit 1; }
	printf '. 3600000 IN NS a.root.\na.root. 3600000 IN A 127.0.0.2\n' >"$WORK/root.hints"
	ek_args=(-roots "$WORK/root.hints" -allow-loopback)
	ub_extra="  do-not-query-localhost: no
  root-hints: \"$WORK/root.hints\"
  module-config: \"iterator\""
	if [ -n "$DNSSEC" ]; then
		ek_args+=(-trust-anchor "$WORK/anchor.ds")
		ub_extra="  do-not-query-localhost: no
  root-hints: \"$WORK/root.hints\"
  trust-anchor-file: \"$WORK/anchor.ds\"
  module-config: \"validator iterator\""
	fi
fi

queries() { # tag: writes $WORK/queries for this workload
	case $MODE in
	local) printf 'localhost A\n' ;;
	cached) for i in $(seq 1000); do printf 'h%d.wild.example.com A\n' "$i"; done ;;
	miss) awk -v p="$1" 'BEGIN { for (i = 0; i < 2000000; i++) printf "%s%d.wild.example.com A\n", p, i }' ;;
	esac >"$WORK/queries"
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # CPU time of a process, in clock ticks
declare -A QPS PERCORE ALLQPS ALLCORE
run() { # name tag port pid
	local out t0 t1 qps busy
	queries "$2"
	if [ "$MODE" = cached ]; then taskset -c "$CLIENT_CPUS" dnsperf -s 127.0.0.1 -p "$3" -d "$WORK/queries" -n 1 -c "$CLIENTS" >/dev/null 2>&1; fi
	t0=$(ticks "$4")
	out=$(taskset -c "$CLIENT_CPUS" dnsperf -s 127.0.0.1 -p "$3" -d "$WORK/queries" -l "$DURATION" -c "$CLIENTS" -Q 1000000 -q 200 2>&1)
	t1=$(ticks "$4")
	qps=$(awk '/Queries per second/ {print $4}' <<<"$out")
	busy=$(awk -v t="$((t1 - t0))" -v hz="$CLK_TCK" -v d="$DURATION" 'BEGIN { printf "%.2f", t / hz / d }')
	QPS[$1]=$qps
	PERCORE[$1]=$(awk -v q="$qps" -v b="$busy" 'BEGIN { printf "%.0f", (b > 0 ? q / b : 0) }')
	ALLQPS[$1]+="$qps "
	ALLCORE[$1]+="${PERCORE[$1]} "
	printf "%-10s %12s queries/s   %s busy cores   %8s queries/s per busy core   avg latency %s   lost %s\n" "$1" "$qps" "$busy" "${PERCORE[$1]}" \
		"$(awk '/Average Latency/ {print $4}' <<<"$out")s" "$(awk '/Queries lost/ {print $3}' <<<"$out")"
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{v[NR] = $1} END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "$MODE queries, dnsperf -c$CLIENTS -l$DURATION on cpus $CLIENT_CPUS, servers on cpus $SERVER_CPUS, loopback, $ROUNDS round(s)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for peer in $PEERS; do
	case $peer in
	edgekit) (cd "$ROOT" && go build -o "$WORK/resolver" ./examples/resolver) ;;
	baseline)
		[ -n "$BASELINE" ] || { echo "bench-resolver: peer baseline needs BASELINE=DIR" >&2; exit 2; }
		(cd "$BASELINE" && go build -o "$WORK/baseline" ./examples/resolver)
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
  num-threads: $CORES
  access-control: 127.0.0.0/8 allow
$ub_extra
UB
		;;
	*) echo "bench-resolver: unknown peer $peer" >&2; exit 2 ;;
	esac
done
for round in $(seq "$ROUNDS"); do
	for peer in $PEERS; do
		case $peer in
		edgekit | baseline)
			port=$EK_PORT bin=$WORK/resolver
			[ "$peer" = baseline ] && port=$BL_PORT bin=$WORK/baseline
			GOMAXPROCS=$CORES taskset -c "$SERVER_CPUS" "$bin" -listen 127.0.0.1:$port "${ek_args[@]}" >/dev/null 2>&1 & pid=$!
			sleep 0.5
			;;
		unbound)
			[ -f "$WORK/unbound.conf" ] || continue
			port=$UB_PORT
			taskset -c "$SERVER_CPUS" unbound -d -c "$WORK/unbound.conf" 2>"$WORK/unbound.log" & pid=$!
			sleep 1
			;;
		esac
		pids+=("$pid")
		run "$peer" "$peer$round-" "$port" "$pid"
		stop "$pid"
	done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$ROUNDS" -gt 1 ]; then
	for peer in $PEERS; do
		[ -n "${ALLQPS[$peer]:-}" ] || continue
		QPS[$peer]=$(median <<<"${ALLQPS[$peer]}")
		PERCORE[$peer]=$(median <<<"${ALLCORE[$peer]}")
		printf "%-10s median of %d: %12.0f queries/s   %8.0f queries/s per busy core   (per busy core: %s)\n" "$peer" "$ROUNDS" "${QPS[$peer]}" "${PERCORE[$peer]}" "${ALLCORE[$peer]% }"
	done
fi
ratio() { # a b
	if [ -n "${QPS[$1]:-}" ] && [ -n "${QPS[$2]:-}" ]; then
		awk -v a="$1" -v b="$2" -v eq="${QPS[$1]}" -v uq="${QPS[$2]}" -v ec="${PERCORE[$1]}" -v uc="${PERCORE[$2]}" \
			'BEGIN { printf "%s / %s: %.2fx queries/s, %.2fx queries per busy core\n", a, b, eq / uq, (uc > 0 ? ec / uc : 0) }'
	fi
}
ratio edgekit unbound
ratio baseline unbound
ratio edgekit baseline
