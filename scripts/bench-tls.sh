#!/usr/bin/env bash
# Loopback load test of HTTPS at the edge: examples/edge beside nginx
# (ssl + proxy_cache) with the same ECDSA P-256 certificate, in paired
# rounds. Two measures:
#   hits        1 KiB cache hits over TLS 1.3 keep-alive (wrk)
#   handshakes  full TLS 1.3 handshakes per second (a Go client without
#               session resumption: connect, handshake, close)
# Not part of `go test` or CI. Installs wrk and nginx with apt-get when
# they are missing. Loopback only, bounded.
#
#   scripts/bench-tls.sh                     # 3 rounds, 10 s each, 64 connections
#   ROUNDS=5 DURATION=5s CONNS=128 FRONT=net/http scripts/bench-tls.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
HS_CONNS=${HS_CONNS:-16}
FRONT=${FRONT:-edgekit}
WORK=$(mktemp -d)
SHM=$(mktemp -d -p /dev/shm 2>/dev/null || mktemp -d)
chmod 755 "$SHM" "$WORK"
ORIGIN_PORT=19200 EDGE_PORT=19201 EDGE_TLS=19202 NGINX_TLS=19203

need() { command -v "$1" >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y -qq "$2" >/dev/null; } || { echo "bench-tls: $1 missing" >&2; return 1; }; }
need wrk wrk
need nginx nginx
need openssl openssl
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK" "$SHM"; }
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
	-addext subjectAltName=DNS:localhost -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
chmod 644 "$WORK/key.pem"

mkdir -p "$WORK/origin" "$WORK/hs"
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
# Full handshakes: each connection is new and offers no session.
cat >"$WORK/hs/main.go" <<'GO'
package main

import (
	"crypto/tls"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	addr := os.Args[1]
	conns, _ := strconv.Atoi(os.Args[2])
	d, _ := time.ParseDuration(os.Args[3])
	cfg := &tls.Config{InsecureSkipVerify: true, ServerName: "localhost", MinVersion: tls.VersionTLS13,
		CurvePreferences: []tls.CurveID{tls.X25519}}
	var n, fail atomic.Int64
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				c, err := tls.Dial("tcp", addr, cfg)
				if err != nil {
					fail.Add(1)
					continue
				}
				if c.ConnectionState().DidResume {
					fail.Add(1)
				}
				c.Close()
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	fmt.Printf("%.0f %d\n", float64(n.Load())/d.Seconds(), fail.Load())
}
GO
(cd "$ROOT" && go build -o "$WORK/origin-bin" "$WORK/origin/main.go" && go build -o "$WORK/hs-bin" "$WORK/hs/main.go" && go build -o "$WORK/edge" ./examples/edge)
"$WORK/origin-bin" $ORIGIN_PORT & pids+=($!)

wait_tls() { for _ in $(seq 1 100); do curl -sk -o /dev/null "https://127.0.0.1:$1/obj" && return 0; sleep 0.1; done; echo "port $1 not up" >&2; return 1; }

"$WORK/edge" -listen 127.0.0.1:$EDGE_PORT -front "$FRONT" -origin http://127.0.0.1:$ORIGIN_PORT -x-cache=false -admin "" \
	-tls-listen 127.0.0.1:$EDGE_TLS -tls-cert "$WORK/cert.pem" -tls-key "$WORK/key.pem" >/dev/null & pids+=($!)
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<NGX
worker_processes auto;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log /dev/null;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 65s;
  proxy_cache_path $SHM/nginx-cache keys_zone=c:10m max_size=256m;
  upstream origin { server 127.0.0.1:$ORIGIN_PORT; keepalive 64; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:$NGINX_TLS ssl;
    ssl_certificate $WORK/cert.pem;
    ssl_certificate_key $WORK/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_cache c; add_header X-Cache-Status \$upstream_cache_status; }
  }
}
NGX
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" & pids+=($!)
wait_tls $EDGE_TLS
wait_tls $NGINX_TLS
curl -sk -o /dev/null "https://127.0.0.1:$NGINX_TLS/obj"
curl -sik "https://127.0.0.1:$NGINX_TLS/obj" | grep -qi '^X-Cache-Status: HIT' || { echo "nginx: not serving from its cache" >&2; exit 1; }
curl -sk -o /dev/null "https://127.0.0.1:$EDGE_TLS/obj"
proto=$(curl -sk -o /dev/null -w '%{http_version} ' "https://127.0.0.1:$EDGE_TLS/obj"; openssl s_client -connect 127.0.0.1:$EDGE_TLS </dev/null 2>/dev/null | awk '/Protocol/ {print $3; exit}')
echo "edge ($FRONT front) answers over: $proto"

hits() { wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" "https://127.0.0.1:$1/obj" | awk '/Requests\/sec/ {print $2}'; }
hs() { "$WORK/hs-bin" 127.0.0.1:$1 "$HS_CONNS" "$DURATION"; }

echo "1 KiB cache hits over TLS 1.3 keep-alive (wrk -t$THREADS -c$CONNS -d$DURATION); full TLS 1.3 handshakes/s (ECDSA P-256, $HS_CONNS clients); $(nproc) cores, loopback"
printf "%-6s %14s %14s %7s   %14s %14s %7s\n" round "edge hits/s" "nginx hits/s" ratio "edge hs/s" "nginx hs/s" ratio
for r in $(seq 1 "$ROUNDS"); do
	eh=$(hits $EDGE_TLS); nh=$(hits $NGINX_TLS)
	read -r es ef < <(hs $EDGE_TLS); read -r ns nf < <(hs $NGINX_TLS)
	printf "%-6s %14s %14s %7.2f   %14s %14s %7.2f  (failed: %s %s)\n" "$r" "$eh" "$nh" "$(echo "$eh / $nh" | bc -l)" "$es" "$ns" "$(echo "$es / $ns" | bc -l)" "$ef" "$nf"
done
