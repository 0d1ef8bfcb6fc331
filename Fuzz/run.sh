#!/usr/bin/env bash
# Builds the libFuzzer targets with -sanitize=fuzzer,address and runs each for a while.
#
#   Fuzz/run.sh                       # every target, 60 s each
#   Fuzz/run.sh --seconds 600         # longer
#   Fuzz/run.sh --runs 2000000 FuzzGETPath
#   Fuzz/run.sh --regressions-only    # only replay Fuzz/Regressions (quick; what CI could run)
#
# Targets: FuzzOCSPRequest (OpenSSL's decoder and the fast path's reader, checked against each
# other), FuzzGETPath (GET path decoding), FuzzIndexTxt (the index.txt parser), FuzzHTTPHandler
# (the HTTP front and handler, over loopback, on a demo store made here), FuzzConfig (the
# configuration file), FuzzAuditRecord (audit records, as `audit replay` reads them).
#
# Each target starts from Fuzz/Corpus/<target> (committed seeds) in a scratch copy, first replays
# Fuzz/Regressions/<target> (inputs that once failed), and stops at the first failure, leaving the
# input in the results directory. The summary gives each target's executions.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
SECONDS_EACH=60
RUNS=""
REGRESSIONS_ONLY=0
TARGETS=()
ALL_TARGETS=(FuzzOCSPRequest FuzzGETPath FuzzIndexTxt FuzzHTTPHandler FuzzConfig FuzzAuditRecord)

while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) SECONDS_EACH=${2:?--seconds needs a number}; shift 2 ;;
        --runs) RUNS=${2:?--runs needs a number}; shift 2 ;;
        --regressions-only) REGRESSIONS_ONLY=1; shift ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        Fuzz*) TARGETS+=("$1"); shift ;;
        *) echo "run.sh: unknown argument $1 (targets: ${ALL_TARGETS[*]})" >&2; exit 64 ;;
    esac
done
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL_TARGETS[@]}")
case "$SECONDS_EACH$RUNS" in *[!0-9]*) echo "run.sh: --seconds and --runs take whole numbers" >&2; exit 64 ;; esac

export PATH="/opt/swift/usr/bin:$PATH"
cd "$REPO"
echo "== building ${TARGETS[*]} (-sanitize=fuzzer,address)"
for target in "${TARGETS[@]}"; do
    OCSP_FUZZ=1 swift build --scratch-path .build-fuzz -c release -Xswiftc -sanitize=fuzzer,address \
        -Xswiftc -parse-as-library --product "$target" 2>&1 | grep -v "Cannot export local symbol" || exit 1
done
BIN=$(OCSP_FUZZ=1 swift build --scratch-path .build-fuzz -c release --show-bin-path)

WORK=$(mktemp -d /tmp/ocsp-fuzz.XXXXXX)
RESULTS="$REPO/Fuzz/results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$RESULTS"
trap 'rm -rf "$WORK"' EXIT

# The HTTP target's store, and seeds that ask about its certificates.
if printf '%s\n' "${TARGETS[@]}" | grep -qx FuzzHTTPHandler; then
    swift build --product ocspctl >/dev/null 2>&1 && swift build --product ocsp-load >/dev/null 2>&1 \
        || { echo "run.sh: cannot build ocspctl and ocsp-load" >&2; exit 1; }
    DEBUG_BIN=$(swift build --show-bin-path)
    # On tmpfs when there is one: fuzzed requests for unknown serials are signed and stored, and
    # each store commit's fsync would otherwise cost more than the rest of the request.
    PKI=$WORK/pki
    [ -d /dev/shm ] && PKI=$(mktemp -d /dev/shm/ocsp-fuzz-pki.XXXXXX) && trap 'rm -rf "$WORK" "$PKI"' EXIT
    "$DEBUG_BIN/ocspctl" demo --dir "$PKI" --url "http://127.0.0.1:9/" >/dev/null
    "$DEBUG_BIN/ocsp-load" --store "$PKI/store" --write-requests "$WORK/requests.txt" 2>/dev/null
    "$DEBUG_BIN/ocsp-load" --store "$PKI/store" --nonce --limit 4 --write-requests "$WORK/nonce-requests.txt" 2>/dev/null
    export OCSP_FUZZ_STORE="$PKI/store"
    mkdir -p "$WORK/http-seeds"
    python3 - "$WORK" <<'EOF'
import base64, sys
# Seeds in the harness's framing (see FuzzHTTPHandler.swift): method byte, path byte, path, 0, body.
GET, POST = 0x08, 0x09   # index 0 and 1 of its method list
work = sys.argv[1]
lines = [l.strip() for f in ("requests.txt", "nonce-requests.txt") for l in open(f"{work}/{f}") if l.strip() and not l.startswith("#")]
for n, line in enumerate(lines):
    der = base64.b64decode(line)
    safe = base64.urlsafe_b64encode(der).rstrip(b"=")
    open(f"{work}/http-seeds/post-{n}", "wb").write(bytes([POST, 0]) + b"\0" + der)
    open(f"{work}/http-seeds/get-{n}", "wb").write(bytes([GET, 0]) + safe)
    open(f"{work}/http-seeds/get-standard-{n}", "wb").write(bytes([GET, 0]) + base64.b64encode(der))
    open(f"{work}/http-seeds/raw-{n}", "wb").write(bytes([0]) + b"GET /" + safe + b" HTTP/1.1\r\nHost: x\r\n\r\n")
open(f"{work}/http-seeds/crl", "wb").write(bytes([GET, 2]) + b"0011223344556677.crl")
open(f"{work}/http-seeds/healthz", "wb").write(bytes([GET, 3]))
EOF
fi

printf '%s\t%s\t%s\t%s\n' target runs seconds result >"$RESULTS/summary.tsv"
failed=0
for target in "${TARGETS[@]}"; do
    echo "== $target"
    corpus="$WORK/corpus-$target"
    mkdir -p "$corpus"
    cp "$HERE/Corpus/$target/"* "$corpus/" 2>/dev/null
    [ "$target" = FuzzHTTPHandler ] && cp "$WORK/http-seeds/"* "$corpus/"
    options=(-artifact_prefix="$RESULTS/$target-" -print_final_stats=1)
    case "$target" in
        # Leak checks after each new input scan the whole server heap: off for this one.
        FuzzHTTPHandler) options+=(-max_len=20000 -timeout=10 -rss_limit_mb=4096 -detect_leaks=0) ;;
        *) options+=(-max_len=4096 -timeout=5) ;;
    esac
    regressions=("$HERE/Regressions/$target/"*)
    if [ -e "${regressions[0]}" ]; then
        if ! "$BIN/$target" "${options[@]}" "${regressions[@]}" >"$RESULTS/$target-regressions.log" 2>&1; then
            echo "   a regression input fails again: $RESULTS/$target-regressions.log"
            printf '%s\t0\t0\tregression\n' "$target" >>"$RESULTS/summary.tsv"
            failed=1
            continue
        fi
        echo "   ${#regressions[@]} regression inputs pass"
    fi
    [ "$REGRESSIONS_ONLY" = 1 ] && continue
    if [ -n "$RUNS" ]; then options+=(-runs="$RUNS"); else options+=(-max_total_time="$SECONDS_EACH"); fi
    started=$(date +%s)
    "$BIN/$target" "${options[@]}" "$corpus" >"$RESULTS/$target.log" 2>&1
    status=$?
    elapsed=$(($(date +%s) - started))
    runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$RESULTS/$target.log" | awk '{print $2}')
    result=$([ $status = 0 ] && echo "ok" || echo "FAILED (exit $status, see $RESULTS/$target.log)")
    [ $status = 0 ] || failed=1
    printf '%s\t%s\t%s\t%s\n' "$target" "${runs:-0}" "$elapsed" "$result" >>"$RESULTS/summary.tsv"
    echo "   ${runs:-0} runs in ${elapsed} s: $result"
done

echo
column -t -s $'\t' "$RESULTS/summary.tsv"
total=$(awk -F'\t' 'NR > 1 { sum += $2 } END { print sum + 0 }' "$RESULTS/summary.tsv")
echo "total: $total executions; results in $RESULTS"
exit $failed
