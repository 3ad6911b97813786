#!/usr/bin/env bash
# bench/export.sh: perfgo's peak RSS with --profile-export-file on, for a
# short run and a run 4 times longer, against one `perfgo serve` on
# loopback, in interleaved rounds (short, long, short, long ...). The
# export is streamed to disk, so memory must not grow with the run's
# length: issue 12's target is the long run's peak RSS within 1.1x of the
# short run's. Not run by `make test`: it takes minutes and measures.
#
# Settings (environment variables):
#   BENCH_EXPORT_CONCURRENCY  concurrency (default 8)
#   BENCH_EXPORT_SECONDS      length of the short run (default 4; 3 windows)
#   BENCH_EXPORT_ROUNDS       rounds (default 3)
#   BENCH_EXPORT_PROTOCOL     grpc or http (default grpc)
#   BENCH_EXPORT_MODEL        model (default simple)
#
# Peak RSS is GNU time's %M for the perfgo process; requests and export
# size are printed per run. Every process started here is stopped by its
# PID on exit.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

conc=${BENCH_EXPORT_CONCURRENCY:-8}
secs=${BENCH_EXPORT_SECONDS:-4}
rounds=${BENCH_EXPORT_ROUNDS:-3}
proto=${BENCH_EXPORT_PROTOCOL:-grpc}
model=${BENCH_EXPORT_MODEL:-simple}

# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_init export

positive_int BENCH_EXPORT_CONCURRENCY "$conc"
positive_int BENCH_EXPORT_SECONDS "$secs"
positive_int BENCH_EXPORT_ROUNDS "$rounds"
(( secs >= 3 )) || die "BENCH_EXPORT_SECONDS=$secs: use 3 or more (perfgo measures 3 windows of a third each)"
[[ $proto == grpc || $proto == http ]] || die "BENCH_EXPORT_PROTOCOL=$proto: use grpc or http"
[[ -x /usr/bin/time ]] || die "GNU time is missing: install it (Debian: sudo apt-get install -y time)"
command -v go >/dev/null || die "go is missing: install Go 1.26 (https://go.dev/dl/)"

log "building perfgo"
go build -o "$tmp/perfgo" ./cmd/perfgo || die "go build ./cmd/perfgo failed"
bench_serve "$tmp/perfgo" "$tmp/server.log"
addr=$serve_grpc
[[ $proto == http ]] && addr=$serve_http
log "server (pid $serve_pid) at $addr; $proto, model $model, concurrency $conc, ${secs}s and $(( 4 * secs ))s runs, $rounds rounds"

rows=$tmp/rows.tsv # length round rss_kib requests export_bytes
: >"$rows"
for round in $(seq "$rounds"); do
	for length in short long; do
		window_ms=$(( secs * 1000 / 3 ))
		[[ $length == long ]] && window_ms=$(( 4 * window_ms ))
		rm -f "$tmp/export.json" "$tmp/time"
		rc=0
		/usr/bin/time -f '%M' -o "$tmp/time" "$tmp/perfgo" -m "$model" -i "$proto" -u "$addr" \
			--concurrency-range "$conc" -p "$window_ms" -s 1000000 -r 3 \
			--profile-export-file "$tmp/export.json" >"$tmp/out" 2>&1 &
		tool_pid=$!
		wait "$tool_pid" || rc=$?
		tool_pid=
		(( rc == 0 )) || die "$length run exited $rc: $(tail -n 2 "$tmp/out")"
		rss=$(tail -n 1 "$tmp/time")
		check=$("$tmp/perfgo" export check "$tmp/export.json") || die "the $length run's export is not sound: $check"
		requests=$(sed -n '1s/.*, \([0-9]*\) requests$/\1/p' <<<"$check")
		bytes=$(stat -c %s "$tmp/export.json")
		printf '%s\t%s\t%s\t%s\t%s\n' "$length" "$round" "$rss" "$requests" "$bytes" >>"$rows"
		log "$(printf 'round %s %-5s peak RSS %6.1f MB  %9s requests exported  %7.1f MB export' "$round" "$length" \
			"$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$requests" "$(awk -v b="$bytes" 'BEGIN { print b / 1048576 }')")"
	done
done

col() { awk -F'\t' -v l="$1" -v c="$2" '$1 == l { print $c }' "$rows"; }
short=$(col short 3 | bench_median) long=$(col long 3 | bench_median)
echo "perfgo --profile-export-file, $proto $model at concurrency $conc, $rounds interleaved rounds (peak RSS in MiB)"
echo
echo "| run | length | peak RSS median | every round | requests exported (median) |"
echo "|---|---:|---:|---|---:|"
for length in short long; do
	s=$secs
	[[ $length == long ]] && s=$(( 4 * secs ))
	printf '| %s | %ss | %.1f | %s | %s |\n' "$length" "$s" "$(col "$length" 3 | awk '{ print $1 / 1024 }' | bench_median)" \
		"$(col "$length" 3 | awk '{ printf "%s%.1f", (NR > 1 ? " " : ""), $1 / 1024 }')" "$(col "$length" 4 | bench_median)"
done
echo
ratio=$(awk -v l="$long" -v s="$short" 'BEGIN { printf "%.3f", l / s }')
verdict=met
awk -v r="$ratio" 'BEGIN { exit !(r <= 1.1) }' || verdict=missed
echo "long / short peak RSS: ${ratio}x (target at most 1.1x: $verdict)"
