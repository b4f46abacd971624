#!/usr/bin/env bash
# Runs the HTTP caching test suite of cache-tests.fyi (npm package
# http-cache-tests) against examples/edge, all on loopback (the suite's
# origin is made to listen on 127.0.0.1 only), and prints a summary. Not
# part of `go test` or CI: it needs Node.js/npm and takes a couple of
# minutes because the suite waits real seconds for staleness.
#
#   scripts/cache-conformance.sh            # run everything, print summary
#   ID=freshness-max-age scripts/cache-conformance.sh   # one test, verbose
#   SUITE=/path/to/cache-tests scripts/cache-conformance.sh
#
# The npm release (0.4.5) is older than the upstream repository
# (github.com/http-tests/cache-tests, the suite behind cache-tests.fyi),
# which adds CDN-Cache-Control, interim responses and newer Age/Expires
# cases. SUITE points at a checkout of upstream instead (its own npm
# dependencies installed there, e.g. `npm install undici`); only numbers
# from the same suite version compare.
#
# Set PROXY_CMD to test another proxy listening on PROXY_PORT instead.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SUITE_VERSION=${SUITE_VERSION:-0.4.5}
ORIGIN_PORT=${ORIGIN_PORT:-18000}
PROXY_PORT=${PROXY_PORT:-18080}
WORK=${WORK:-${TMPDIR:-/tmp}/edgekit-cache-tests}
ID=${ID:-}

command -v npm >/dev/null || { echo "cache-conformance: npm is required" >&2; exit 2; }
SUITE=${SUITE:-$WORK/node_modules/http-cache-tests}
if [ ! -f "$SUITE/package.json" ]; then
	mkdir -p "$WORK"
	(cd "$WORK" && npm init -y >/dev/null 2>&1 &&
		npm install --silent --install-strategy=nested "http-cache-tests@$SUITE_VERSION" >/dev/null)
fi

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# The npm release keeps server/ and cli.mjs at the top; upstream has test-engine/.
ENGINE=.
[ -d "$SUITE/test-engine" ] && ENGINE=test-engine
mkdir -p "$WORK"
(cd "$SUITE" && npm_config_port=$ORIGIN_PORT npm_config_protocol=http npm_config_pidfile="$WORK/server.pid" \
	exec node --import "$ROOT/scripts/cache-conformance-loopback.mjs" "$ENGINE/server/server.mjs") >"$WORK/origin.log" 2>&1 &
pids+=($!)

if [ -n "${PROXY_CMD:-}" ]; then
	bash -c "$PROXY_CMD" >"$WORK/proxy.log" 2>&1 &
else
	(cd "$ROOT" && go build -o "$WORK/edge" ./examples/edge)
	"$WORK/edge" -listen "127.0.0.1:$PROXY_PORT" -origin "http://127.0.0.1:$ORIGIN_PORT" -admin "" >"$WORK/proxy.log" 2>&1 &
fi
pids+=($!)

for _ in $(seq 1 100); do
	if curl -s -o /dev/null "http://127.0.0.1:$PROXY_PORT/" 2>/dev/null; then break; fi
	sleep 0.1
done

cd "$SUITE"
if [ -n "$ID" ]; then
	npm_config_base="http://127.0.0.1:$PROXY_PORT" npm_config_id="$ID" npm_package_config_id="" node --no-warnings "$ENGINE/cli.mjs"
	exit 0
fi
npm_config_base="http://127.0.0.1:$PROXY_PORT" npm_config_id="" npm_package_config_id="" node --no-warnings "$ENGINE/cli.mjs" >"$WORK/results.json"
node --no-warnings "$ROOT/scripts/cache-conformance-summary.mjs" "$SUITE" "$WORK/results.json"
