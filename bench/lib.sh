# bench/lib.sh: what every bench script does the same way, sourced by them
# (bench/wrk.sh holds wrk's request script): messages, a temporary
# directory, processes stopped by their PID on exit, and `perfgo serve`
# started on loopback ports.

# bench_init NAME: die and log write "NAME: ..." on stderr; $tmp is a new
# temporary directory, removed on exit unless bench_keep=1. On exit (INT
# and TERM exit 130) $tool_pid and every PID in bench_pids are stopped and
# waited for, then bench_on_exit runs if the script defines it.
bench_init() {
	bench_name=$1
	bench_pids=()
	tool_pid=
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/perfgo-${1//[^A-Za-z0-9]/-}.XXXXXX")
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
}

die() {
	echo "$bench_name: $*" >&2
	exit 1
}

log() { echo "$bench_name: $*" >&2; }

bench_cleanup() {
	local pid
	for pid in $tool_pid "${bench_pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in $tool_pid "${bench_pids[@]}"; do
		wait "$pid" 2>/dev/null || true # killed: non-zero by design
	done
	if declare -F bench_on_exit >/dev/null; then
		bench_on_exit || true
	fi
	if [[ ${bench_keep:-0} == 1 ]]; then
		echo "$bench_name: kept $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}

# bench_serve BIN LOG [WORD...] [-- FLAG...]: starts `BIN serve` on
# 127.0.0.1 ports of the kernel's choosing, after the WORDs (a command
# prefix such as taskset -c 0) and with the FLAGs, logging to LOG; adds its
# PID to bench_pids and waits up to 10 s until it reports both addresses
# and (with curl) answers ready, then sets serve_pid, serve_http and
# serve_grpc.
bench_serve() {
	local bin=$1 log=$2 prefix=()
	shift 2
	while (($#)) && [[ $1 != -- ]]; do
		prefix+=("$1")
		shift
	done
	(($#)) && shift
	"${prefix[@]}" "$bin" serve --http-addr 127.0.0.1:0 --grpc-addr 127.0.0.1:0 --metrics-addr "" "$@" >"$log" 2>&1 &
	serve_pid=$!
	bench_pids+=("$serve_pid")
	serve_http= serve_grpc=
	for _ in $(seq 100); do
		serve_http=$(awk '/HTTP on/ {print $NF}' "$log")
		serve_grpc=$(awk '/gRPC on/ {print $NF}' "$log")
		if [[ -n $serve_http && -n $serve_grpc ]]; then
			! command -v curl >/dev/null || curl -sf "http://$serve_http/v2/health/ready" >/dev/null && return 0
		fi
		kill -0 "$serve_pid" 2>/dev/null || die "perfgo serve exited: $(cat "$log")"
		sleep 0.1
	done
	die "perfgo serve did not report its addresses and get ready in 10 s: $(cat "$log")"
}

# bench_cpp_serve NAME THREADS [WORD...]: starts bench/cpp/build/server and
# http_server (THREADS event-loop threads), built by `make -C bench/cpp`,
# after the WORDs (a command prefix such as taskset -c 1) on 127.0.0.1
# ports of the kernel's choosing, logging to $tmp/NAME-grpc.log and
# $tmp/NAME-http.log; adds their PIDs to bench_pids. They also stop when
# their stdin, a FIFO this script holds open, ends: even if the script is
# killed before its trap runs. Sets cpp_grpc_pid, cpp_http_pid, cpp_grpc
# and cpp_http (the addresses).
bench_cpp_serve() {
	local name=$1 threads=$2 fd
	shift 2
	mkfifo "$tmp/$name.in"
	"$@" bench/cpp/build/server 0 <"$tmp/$name.in" >"$tmp/$name-grpc.log" 2>&1 &
	cpp_grpc_pid=$!
	bench_pids+=("$cpp_grpc_pid")
	"$@" bench/cpp/build/http_server 0 "$threads" <"$tmp/$name.in" >"$tmp/$name-http.log" 2>&1 &
	cpp_http_pid=$!
	bench_pids+=("$cpp_http_pid")
	exec {fd}>"$tmp/$name.in"
	cpp_grpc=$(bench_cpp_address gRPC "$cpp_grpc_pid" "$tmp/$name-grpc.log" "gRPC on")
	cpp_http=$(bench_cpp_address HTTP "$cpp_http_pid" "$tmp/$name-http.log" "HTTP on")
}

# bench_cpp_address NAME PID LOG PATTERN: waits for a C++ server to print
# its address, and prints it.
bench_cpp_address() {
	local addr=
	for _ in $(seq 100); do
		addr=$(awk -v p="$4" '$0 ~ p {print $NF}' "$3")
		[[ -n $addr ]] && break
		kill -0 "$2" 2>/dev/null || die "the C++ $1 server exited: $(cat "$3")"
		sleep 0.1
	done
	[[ -n $addr ]] || die "the C++ $1 server did not report its address in 10 s: $(cat "$3")"
	echo "$addr"
}

# positive_int NAME VALUE: dies unless VALUE (the setting NAME) is a whole
# number above 0.
positive_int() { [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1=$2: use a whole number above 0"; }

# bench_median: the median of the numbers on stdin, one per line; nan when
# there are none.
bench_median() {
	sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
