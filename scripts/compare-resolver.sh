#!/usr/bin/env bash
# Asks examples/resolver and Unbound the same questions about a loopback
# DNS hierarchy (scripts/resolverdiff: root, TLDs and zones with CNAME
# chains, a DNAME, a wildcard, a delegation, lame and glueless ones, and
# misbehaving servers: one following CNAMEs across its zones, one saying
# NXDOMAIN for empty non-terminals, stale glue, an EDNS-intolerant one) and
# prints each pair of answers, marked same or DIFF; then the counts. Over
# TCP, UDP with EDNS and UDP without, each twice (cold, then from cache).
# Not part of `go test` or CI. Needs root (the hierarchy serves port 53 of
# 127.0.0.2-11, the only port Unbound sends referred queries to) and
# installs unbound with apt-get when missing. Loopback only.
#
#   scripts/compare-resolver.sh            # summary per pass
#   VERBOSE=1 scripts/compare-resolver.sh  # every answer
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
EK_PORT=19401 UB_PORT=19402
command -v unbound >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y -qq unbound >/dev/null; } ||
	{ echo "compare-resolver: unbound missing" >&2; exit 2; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

(cd "$ROOT" && go build -o "$WORK/resolverdiff" ./scripts/resolverdiff && go build -o "$WORK/resolver" ./examples/resolver)
"$WORK/resolverdiff" serve >"$WORK/hierarchy.log" 2>&1 &
pids+=($!)
printf '. 3600000 IN NS a.root.\na.root. 3600000 IN A 127.0.0.2\n' >"$WORK/root.hints"
cat >"$WORK/unbound.conf" <<CONF
server:
  interface: 127.0.0.1@$UB_PORT
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "$WORK"
  pidfile: ""
  use-syslog: no
  logfile: "$WORK/unbound.log"
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: no
  root-hints: "$WORK/root.hints"
  module-config: "iterator"
CONF
unbound -c "$WORK/unbound.conf" -d >/dev/null 2>&1 &
pids+=($!)
"$WORK/resolver" -listen "127.0.0.1:$EK_PORT" -roots "$WORK/root.hints" -allow-loopback >"$WORK/resolver.log" 2>&1 &
pids+=($!)
sleep 2
if ! kill -0 "${pids[0]}" 2>/dev/null; then cat "$WORK/hierarchy.log" >&2; exit 1; fi

for pass in "tcp" "udp" "udp NOEDNS"; do
	set -- $pass
	for round in cold cached; do
		out=$(NET=$1 NOEDNS=${2:+1} "$WORK/resolverdiff" ask "127.0.0.1:$EK_PORT" "127.0.0.1:$UB_PORT")
		if [ -n "${VERBOSE:-}" ]; then echo "$out"; else grep '^DIFF' <<<"$out" || true; fi
		printf '%-12s %-7s %s\n' "$pass" "$round" "$(tail -n 1 <<<"$out")"
	done
	# Fresh caches for the next pass.
	kill "${pids[1]}" "${pids[2]}"; wait "${pids[1]}" "${pids[2]}" 2>/dev/null || true
	unbound -c "$WORK/unbound.conf" -d >/dev/null 2>&1 &
	pids[1]=$!
	"$WORK/resolver" -listen "127.0.0.1:$EK_PORT" -roots "$WORK/root.hints" -allow-loopback >>"$WORK/resolver.log" 2>&1 &
	pids[2]=$!
	sleep 1.5
done
echo "(examples/resolver first, Unbound second; a lame delegation times out in Unbound after 8 s where edgekit says SERVFAIL)"
