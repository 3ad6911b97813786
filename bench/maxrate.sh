#!/usr/bin/env bash
# bench/maxrate.sh: the highest open-loop request rate perfgo sends on time
# on this machine (p99 schedule lag under 1 ms in most rounds, completed
# rate within 1% of the target), per protocol and pin setup: bench/rate.sh
# on a ladder of rates. Its last table is the answer; the table above it
# says, for each rate missed, whether the client or the server fell behind.
#
# Settings: BENCH_MAXRATE_RATES (default "2000 4000 6000 8000 10000 12000
# 16000 20000"); every BENCH_RATE_* setting of bench/rate.sh (server,
# protocols, pin setups, CPUs, window, rounds, output file) passes through:
# BENCH_RATE_SERVER=cpp ./bench/maxrate.sh climbs against the C++ servers.
# About 7 s per run: 8 rates x 2 protocols x 2 pin setups x 3 rounds is
# about 12 minutes.
set -euo pipefail

BENCH_RATE_RATES=${BENCH_MAXRATE_RATES:-2000 4000 6000 8000 10000 12000 16000 20000} exec "$(dirname "$0")/rate.sh"
