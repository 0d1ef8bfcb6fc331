#!/usr/bin/env bash
# Two ocspd builds (or one with two sets of flags) on one population store, A/B: both pinned to
# core 0, wrk -t1 -c64 on core 1, rows alternated (which goes first flips each round): uniform and
# Zipf GET over the population, and one hot response (GET and POST of the same request); then the
# median ratio B/A of each. For a request-path change: the before/after that bench.sh's separate
# runs, minutes apart on a noisy machine, cannot give. Loopback only, every run bounded.
#
#   LoadTests/compare-builds.sh A_OCSPD B_OCSPD [ROUNDS]       # e.g. /tmp/before/ocspd .build/release/ocspd
#   A_ARGS=--no-metrics LoadTests/compare-builds.sh .build/release/ocspd .build/release/ocspd
#
# Environment: A_ARGS, B_ARGS (extra ocspd flags), COMPARE_POPULATION (certificates, default 200000).
# Needs .build/release/{ocspctl,ocsp-load} and wrk.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
A=${1:?usage: compare-builds.sh A_OCSPD B_OCSPD [ROUNDS]} B=${2:?usage: compare-builds.sh A_OCSPD B_OCSPD [ROUNDS]}
ROUNDS=${3:-10}
POPULATION=${COMPARE_POPULATION:-200000}
BIN=$(dirname "$HERE")/.build/release
LUA=$HERE/wrk/population.lua
command -v wrk >/dev/null || { echo "compare-builds.sh: needs wrk (apt-get install wrk)" >&2; exit 1; }
W=$(mktemp -d /tmp/compare-builds.XXXXXX)
declare -a PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$W"' EXIT
"$BIN/ocspctl" demo --dir "$W/d" --url http://127.0.0.1:9/ >/dev/null || exit 1
python3 "$HERE/population_index.py" "$POPULATION" "$W/index.txt" || exit 1
"$BIN/ocspctl" import --store "$W/d/store" --issuer "$W/d/ec-root.pem" --index "$W/index.txt" --presign >/dev/null || exit 1
"$BIN/ocsp-load" --store "$W/d/store" --issuer "$W/d/ec-root.pem" --write-requests "$W/requests.txt" >/dev/null || exit 1
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT_A=$(free_port); PORT_B=$(free_port)
# shellcheck disable=SC2086
taskset -c 0 "$A" --store "$W/d/store" --listen "127.0.0.1:$PORT_A" --threads 1 --no-crl --log-level error ${A_ARGS:-} >/dev/null 2>&1 &
PIDS+=($!)
# shellcheck disable=SC2086
taskset -c 0 "$B" --store "$W/d/store" --listen "127.0.0.1:$PORT_B" --threads 1 --no-crl --log-level error ${B_ARGS:-} >/dev/null 2>&1 &
PIDS+=($!)
sleep 2
grep -v '^#' "$W/requests.txt" | head -n 1 >"$W/one.txt"
# rate PORT uniform|zipf 1.0|hot-get|hot-post: req/s of one 5 s wrk row.
rate() {
    case "$2" in
        hot-*) taskset -c 1 wrk -t1 -c64 -d5s "http://127.0.0.1:$1/" -s "$HERE/wrk/ocsp.lua" -- "$W/one.txt" "${2#hot-}" ;;
        *) taskset -c 1 wrk -t1 -c64 -d5s "http://127.0.0.1:$1/" -s "$LUA" -- "$W/requests.txt" get "$2" ${3:-} ;;
    esac 2>/dev/null | awk '/Requests\/sec/ {print $2}'
}
for port in "$PORT_A" "$PORT_B"; do for order in uniform "zipf 1.0" hot-get hot-post; do rate "$port" $order >/dev/null; done; done  # warm
echo "A: $A ${A_ARGS:-}"
echo "B: $B ${B_ARGS:-}"
for round in $(seq "$ROUNDS"); do
    for order in uniform "zipf 1.0" hot-get hot-post; do
        # shellcheck disable=SC2086
        if [ $((round % 2)) = 1 ]; then a=$(rate "$PORT_A" $order); b=$(rate "$PORT_B" $order)
        else b=$(rate "$PORT_B" $order); a=$(rate "$PORT_A" $order); fi
        echo "round $round ${order%% *}: A $a req/s, B $b req/s"
    done
done | tee "$W/rows.txt"
python3 - "$W/rows.txt" <<'PY'
import re, statistics, sys
rows = [re.match(r"round \d+ ([\w-]+): A ([\d.]+) req/s, B ([\d.]+) req/s", l) for l in open(sys.argv[1])]
for order in ("uniform", "zipf", "hot-get", "hot-post"):
    r = [float(m.group(3)) / float(m.group(2)) for m in rows if m and m.group(1) == order]
    if r:
        print(f"{order:8} B/A median {statistics.median(r):.3f}  (range {min(r):.3f}-{max(r):.3f}, {len(r)} rounds)")
PY
