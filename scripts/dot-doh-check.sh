#!/usr/bin/env bash
# Asks examples/resolver over DNS over TLS (RFC 7858) and DNS over HTTPS
# (RFC 8484) with real clients: kdig +tls, kdig +https (POST and GET) from
# knot-dnsutils, and curl --doh-url; each client that is missing is
# skipped (installed with apt-get when running as root). The resolver
# recurses through the loopback hierarchy of scripts/resolverdiff (on
# port 19500 of 127.0.0.2-11), with a throw-away certificate for
# "localhost". Not part of `go test` or CI. Loopback only, bounded.
#
#   scripts/dot-doh-check.sh
#   VERBOSE=1 scripts/dot-doh-check.sh   # every client's output
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
HIER=19500 PLAIN=19501 DOT=19502 DOH=19503
pass=0 fail=0 skip=0
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

have() { command -v "$1" >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y -qq "$2" >/dev/null 2>&1 && command -v "$1" >/dev/null; }; }
check() { # name, expected text, command...
	local name=$1 want=$2
	shift 2
	local out
	out=$(timeout 10 "$@" 2>&1 || true)
	if grep -q -- "$want" <<<"$out"; then
		echo "ok    $name"
		[ -z "${VERBOSE:-}" ] || sed 's/^/      /' <<<"$out"
		pass=$((pass + 1))
	else
		echo "FAIL  $name: want \"$want\" in:"
		sed 's/^/      /' <<<"$out"
		fail=$((fail + 1))
	fi
}

have openssl openssl || { echo "dot-doh-check: openssl missing" >&2; exit 2; }
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
	-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
(cd "$ROOT" && go build -o "$WORK/resolverdiff" ./scripts/resolverdiff && go build -o "$WORK/resolver" ./examples/resolver)
PORT=$HIER "$WORK/resolverdiff" serve >"$WORK/hierarchy.log" 2>&1 &
pids+=($!)
printf '. 3600000 IN NS a.root.\na.root. 3600000 IN A 127.0.0.2\n' >"$WORK/root.hints"
"$WORK/resolver" -listen "127.0.0.1:$PLAIN" -roots "$WORK/root.hints" -port "$HIER" -allow-loopback \
	-listen-tls "127.0.0.1:$DOT" -listen-https "127.0.0.1:$DOH" -tls-cert "$WORK/cert.pem" -tls-key "$WORK/key.pem" \
	>"$WORK/resolver.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q "resolver listening" "$WORK/resolver.log" && break; sleep 0.1; done
grep -q "resolver listening" "$WORK/resolver.log" && kill -0 "${pids[0]}" 2>/dev/null ||
	{ echo "dot-doh-check: the hierarchy or the resolver did not start" >&2; cat "$WORK/resolver.log" "$WORK/hierarchy.log" >&2; exit 1; }
cat "$WORK/resolver.log"
echo

if have kdig knot-dnsutils; then
	k=(kdig @127.0.0.1 +tls-ca="$WORK/cert.pem" +tls-hostname=localhost +timeout=5 +retry=0)
	check "kdig +tls: A" "192.0.2.10" "${k[@]}" -p "$DOT" +tls example.com. A
	check "kdig +tls +padding: reply padded to 468 B" "Received 468 B" "${k[@]}" -p "$DOT" +tls +padding example.com. A
	check "kdig +tls: NXDOMAIN" "status: NXDOMAIN" "${k[@]}" -p "$DOT" +tls nope.example.com. A
	check "kdig +tls: CNAME chain" "192.0.2" "${k[@]}" -p "$DOT" +tls chain.example.com. A
	check "kdig +tls: wrong name refused" "certificate" kdig @127.0.0.1 -p "$DOT" +tls-ca="$WORK/cert.pem" +tls-hostname=other.example +timeout=5 +retry=0 example.com. A
	check "kdig +https POST" "192.0.2.10" "${k[@]}" -p "$DOH" +https=/dns-query example.com. A
	check "kdig +https GET" "192.0.2.25" "${k[@]}" -p "$DOH" +https=/dns-query +https-get mail.example.com. A
else
	echo "skip  kdig (knot-dnsutils) not installed"
	skip=$((skip + 1))
fi

# curl resolves the URL's host through DoH; ns1.example.com is 127.0.0.4,
# where nothing listens on that port: the attempt shows the address.
if have curl curl && curl --help all 2>/dev/null | grep -q -- --doh-url; then
	check "curl --doh-url" "Trying 127.0.0.4:$PLAIN" curl -v --max-time 5 --cacert "$WORK/cert.pem" \
		--doh-url "https://localhost:$DOH/dns-query" "http://ns1.example.com:$PLAIN/"
else
	echo "skip  curl --doh-url (curl missing or without DoH)"
	skip=$((skip + 1))
fi
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
