#!/usr/bin/env bash
# Loopback load test of a 1 KiB cache hit: examples/edge beside Varnish and
# nginx (proxy_cache) in front of the same origin, driven by wrk. Not part
# of `go test` or CI. Installs wrk, varnish and nginx with apt-get when
# they are missing (skip a peer with PEERS="edge"). Loopback only, bounded.
#
#   scripts/bench-edge.sh              # 10 s per proxy, 64 connections
#   DURATION=30s CONNS=256 scripts/bench-edge.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
PEERS=${PEERS:-"edge varnish nginx"}
WORK=$(mktemp -d)
# nginx's cache lives on tmpfs, as its docs advise for a hot cache.
SHM=$(mktemp -d -p /dev/shm 2>/dev/null || mktemp -d)
# nginx's workers run as nobody: they must reach the cache directory, or
# nginx silently caches nothing and every "hit" goes to the origin.
chmod 755 "$SHM"
ORIGIN_PORT=19100 EDGE_PORT=19101 VARNISH_PORT=19102 NGINX_PORT=19103

need() { command -v "$1" >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y -qq "$2" >/dev/null; } || { echo "bench-edge: $1 missing" >&2; return 1; }; }
need wrk wrk
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK" "$SHM"; }
trap cleanup EXIT

# The origin: a tiny Go server answering 1 KiB with max-age=3600.
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
(cd "$ROOT" && go build -o "$WORK/origin-bin" "$WORK/origin/main.go" && go build -o "$WORK/edge" ./examples/edge)
"$WORK/origin-bin" $ORIGIN_PORT & pids+=($!)

wait_port() { for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$1/obj" && return 0; sleep 0.1; done; echo "port $1 not up" >&2; return 1; }

run() { # name port
	curl -s -o /dev/null "http://127.0.0.1:$2/obj" # fill the cache
	local out
	out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$2/obj")
	local rps p99
	rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
	p99=$(awk '$1=="99%" {print $2}' <<<"$out")
	printf "%-10s %12s req/s   p99 %s\n" "$1" "$rps" "$p99"
}

echo "1 KiB cache hit, wrk -t$THREADS -c$CONNS -d$DURATION, $(nproc) cores, all on loopback"
for peer in $PEERS; do
	case $peer in
	edge)
		"$WORK/edge" -listen 127.0.0.1:$EDGE_PORT -origin http://127.0.0.1:$ORIGIN_PORT -x-cache=false -admin "" >/dev/null & pids+=($!)
		wait_port $EDGE_PORT && run edgekit $EDGE_PORT
		;;
	varnish)
		need varnishd varnish || continue
		varnishd -F -a 127.0.0.1:$VARNISH_PORT -b 127.0.0.1:$ORIGIN_PORT -n "$WORK/varnish" -s malloc,256m >/dev/null 2>&1 & pids+=($!)
		wait_port $VARNISH_PORT && run varnish $VARNISH_PORT
		;;
	nginx)
		need nginx nginx || continue
		mkdir -p "$WORK/nginx" # nginx makes its cache directory, owned by its workers
		cat >"$WORK/nginx/nginx.conf" <<NGX
worker_processes auto;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log /dev/null;
events { worker_connections 4096; }
http {
  access_log off;
  # Tuned as nginx's docs advise for a caching proxy under load: keep-alive
  # connections are not closed after 1000 requests (the default), the
  # cache is on tmpfs, upstream connections are kept.
  keepalive_requests 1000000;
  keepalive_timeout 65s;
  proxy_cache_path $SHM/nginx-cache keys_zone=c:10m max_size=256m;
  upstream origin { server 127.0.0.1:$ORIGIN_PORT; keepalive 64; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_cache c; add_header X-Cache-Status \$upstream_cache_status; }
  }
}
NGX
		nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" & pids+=($!)
		wait_port $NGINX_PORT || continue
		curl -s -o /dev/null "http://127.0.0.1:$NGINX_PORT/obj"
		curl -si "http://127.0.0.1:$NGINX_PORT/obj" | grep -qi '^X-Cache-Status: HIT' || { echo "nginx: not serving from its cache; not measured" >&2; continue; }
		run nginx $NGINX_PORT
		;;
	esac
done
