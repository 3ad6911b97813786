#!/usr/bin/env bash
# scripts/html-screenshot.sh: `make html-screenshot`. Runs a short sweep of
# the delay model against `perfgo serve` on loopback, writes its HTML report
# (--html) and renders it with headless Chromium to a PNG, so a person can
# see the charts as a browser draws them. Chromium is Debian's package; it is
# installed with apt-get when missing (that needs root). Tests and CI never
# need it. Every process started here is stopped by its PID on exit.
#
# Settings (environment variables):
#   HTML_OUT      directory for report.html, report.json and report.png (default bin/html-screenshot)
#   HTML_RANGE    --concurrency-range of the sweep (default 1:8:1)
#   HTML_WIDTH    screenshot width in CSS pixels (default 1200)
#   HTML_HEIGHT   screenshot height in CSS pixels (default 2000: both charts and 8 rows)
#   GO            the go command (default go)
set -euo pipefail

out=${HTML_OUT:-bin/html-screenshot}
range=${HTML_RANGE:-1:8:1}
width=${HTML_WIDTH:-1200}
height=${HTML_HEIGHT:-2000}

log() { printf 'html-screenshot: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

chromium=$(command -v chromium || command -v chromium-browser || true)
if [[ -z $chromium ]]; then
	[[ $(id -u) == 0 ]] || die "chromium is not installed; run: sudo apt-get install -y chromium fonts-liberation"
	log "installing Debian's chromium and fonts-liberation"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-liberation >/dev/null
	chromium=$(command -v chromium) || die "apt-get installed no chromium binary"
fi

mkdir -p "$out"
tmp=$(mktemp -d)
server_pid=
cleanup() {
	if [[ -n $server_pid ]]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"${GO:-go}" build -o "$tmp/perfgo" ./cmd/perfgo
# The delay model: 4 ms on 4 instances saturates near 1,000/s, so latency
# climbs with concurrency while throughput flattens: a curve worth drawing.
"$tmp/perfgo" serve --http-addr "" --grpc-addr 127.0.0.1:0 --metrics-addr "" \
	--delay-ms 4 --delay-instances 4 --delay-distribution exponential >"$tmp/server.log" 2>&1 &
server_pid=$!
grpc_addr=
for _ in $(seq 100); do
	grpc_addr=$(awk '/gRPC on/ {print $NF}' "$tmp/server.log")
	[[ -n $grpc_addr ]] && break
	kill -0 "$server_pid" 2>/dev/null || die "perfgo serve exited: $(cat "$tmp/server.log")"
	sleep 0.1
done
[[ -n $grpc_addr ]] || die "perfgo serve did not report its gRPC address in 10 s"
log "server (pid $server_pid) on $grpc_addr; sweeping concurrency $range"

"$tmp/perfgo" -m delay -i grpc -u "$grpc_addr" --concurrency-range "$range" --shape INPUT0:16 \
	-p 500 -s 1000 --html "$out/report.html" --json "$out/report.json" >"$out/stdout.txt"

# The page has no script: the first layout is the final one.
"$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars \
	--window-size="$width,$height" --screenshot="$out/report.png" \
	"file://$(realpath "$out/report.html")" >"$tmp/chromium.log" 2>&1 ||
	die "chromium failed: $(tail -n 5 "$tmp/chromium.log")"
log "wrote $out/report.html and $out/report.png"
