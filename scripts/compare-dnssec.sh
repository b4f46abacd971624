#!/usr/bin/env bash
# Asks examples/resolver and a validating Unbound the same DNSSEC
# questions about a signed loopback hierarchy (scripts/dnssecdiff: about
# 30 zones, valid, broken, insecure and denied in the ways an external
# DNSSEC test hierarchy checks; the case list is in its doc comment) and
# prints each pair of answers marked same or DIFF (rcode, AD, answer
# records, RRSIGs with DO), the Extended DNS Error codes marked ede-same
# or ede-DIFF, the authority section's DNSSEC records marked auth-same or
# auth-DIFF, the answers' least TTLs (loosely) marked ttl-DIFF when they
# differ, then the counts. Each question twice: cold, then cached.
# Both resolvers get the hierarchy's root DS as trust anchor; Unbound runs
# "validator iterator" with ede: yes. Not part of `go test` or CI. Needs
# root (the hierarchy serves port 53 of 127.0.1.2-40, the only port
# Unbound sends referred queries to) and installs unbound with apt-get
# when missing. Loopback only.
#
#   scripts/compare-dnssec.sh            # differences and counts
#   VERBOSE=1 scripts/compare-dnssec.sh  # every answer
#   KEEP=1 scripts/compare-dnssec.sh     # keep the logs (the directory is printed)
#   RESOLVER=/path/to/resolver scripts/compare-dnssec.sh  # an examples/resolver built elsewhere (older code)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
EK_PORT=19501 UB_PORT=19502
command -v unbound >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y -qq unbound >/dev/null; } ||
	{ echo "compare-dnssec: unbound missing" >&2; exit 2; }
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	if [ -n "${KEEP:-}" ]; then echo "logs in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

(cd "$ROOT" && go build -o "$WORK/dnssecdiff" ./scripts/dnssecdiff)
if [ -n "${RESOLVER:-}" ]; then cp "$RESOLVER" "$WORK/resolver"; else (cd "$ROOT" && go build -o "$WORK/resolver" ./examples/resolver); fi
"$WORK/dnssecdiff" serve -anchor "$WORK/anchor.ds" >"$WORK/hierarchy.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$WORK/anchor.ds" ] && break; sleep 0.2; done # RSA-4096 keys take a while
if ! [ -s "$WORK/anchor.ds" ]; then cat "$WORK/hierarchy.log" >&2; exit 1; fi
printf '. 3600000 IN NS a.root-servers.net.\na.root-servers.net. 3600000 IN A 127.0.1.2\n' >"$WORK/root.hints"
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
  verbosity: 1
  val-log-level: 2
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  do-not-query-localhost: no
  root-hints: "$WORK/root.hints"
  trust-anchor-file: "$WORK/anchor.ds"
  module-config: "validator iterator"
  ede: yes
CONF
start() {
	unbound -c "$WORK/unbound.conf" -d >/dev/null 2>&1 &
	pids[1]=$!
	"$WORK/resolver" -listen "127.0.0.1:$EK_PORT" -roots "$WORK/root.hints" -allow-loopback -trust-anchor "$WORK/anchor.ds" >>"$WORK/resolver.log" 2>&1 &
	pids[2]=$!
	sleep 1.5
}
start
for round in cold cached; do
	echo "== $round"
	"$WORK/dnssecdiff" ask "127.0.0.1:$EK_PORT" "127.0.0.1:$UB_PORT" | tee "$WORK/$round.out" | { if [ -n "${VERBOSE:-}" ]; then cat; else grep -E '^(DIFF|ede-DIFF|auth-DIFF|ttl-DIFF|  )|questions' || true; fi; }
done
echo "(examples/resolver first, Unbound second)"
