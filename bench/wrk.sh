# bench/wrk.sh: wrk POSTing a v2 infer request in the binary tensor
# extension, sourced by bench/run.sh and bench/cpp.sh.

# wrk_post_script SCRIPT BODY HEADER TENSOR_FILE...: writes BODY (the JSON
# HEADER, then the tensors' raw bytes) and SCRIPT, a wrk Lua script that
# POSTs BODY with Inference-Header-Content-Length set to HEADER's length.
wrk_post_script() {
	local script=$1 body=$2 header=$3 header_bytes
	shift 3
	{ printf %s "$header"; cat "$@"; } >"$body"
	header_bytes=$(printf %s "$header" | wc -c)
	cat >"$script" <<LUA
-- The v2 binary tensor extension: JSON header, then the raw tensors.
local f = assert(io.open([[$body]], "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.headers["Inference-Header-Content-Length"] = "$header_bytes"
LUA
}

# wrk_mean_latency_us FILE: the mean latency in µs of the wrk report in FILE
# (its "Latency" line, in us, ms, s or m).
wrk_mean_latency_us() {
	awk '$1 == "Latency" {
		v = $2; u = $2; sub(/[a-z]+$/, "", v); sub(/^[0-9.]+/, "", u)
		print v * (u == "m" ? 6e7 : u == "s" ? 1e6 : u == "ms" ? 1e3 : 1); exit }' "$1"
}

# wrk_post_try URL BODY HEADER: sends BODY (written by wrk_post_script with
# HEADER) once with curl, so that a body the server rejects fails before
# anything is measured.
wrk_post_try() {
	curl -sf -o /dev/null -X POST -H 'Content-Type: application/octet-stream' \
		-H "Inference-Header-Content-Length: $(printf %s "$3" | wc -c)" --data-binary @"$2" "$1"
}
