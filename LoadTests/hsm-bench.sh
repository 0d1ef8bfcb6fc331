#!/usr/bin/env bash
# Signing keys in a PKCS#11 token (SoftHSM2) against the same kind of key in a PEM file, in one
# run, for EC P-256 and RSA-2048: the pre-signing rate, the live-signing rate of ocspd (nonce
# requests) and the time to generate and sign a CRL. Prints a table with token/file ratios.
#
#   LoadTests/hsm-bench.sh [--bin DIR]            # DIR holds ocspd, ocspctl, ocsp-load (default .build/release)
#   LoadTests/hsm-bench.sh --bin DIR --quick      # smoke run: 2000 certificates, 10000 CRL entries, 2 s live
#
# Options: --population N (certificates pre-signed and asked about, default 20000),
# --crl-entries N (revoked certificates on the CRL, default 100000), --live-seconds S (each live
# row, after 1 s of warm-up; default 5), --connections N (ocsp-load, default 64),
# --ocspd-threads N (default: ocspd's own, one per core), --step-timeout S (a cap on every
# command, default 1800). Each key is the CA's own, signing its responses and its CRLs: in the
# file columns a PEM file, in the token columns a key generated in a SoftHSM2 token that this
# script creates in a temporary directory (removed at the end, as is everything else).
# Local files and 127.0.0.1 only; every wait and every run is bounded.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
BIN=$REPO/.build/release
POPULATION=20000
CRL_ENTRIES=100000
LIVE_SECONDS=5
CONNECTIONS=64
OCSPD_THREADS=""
STEP_TIMEOUT=1800
MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
PIN=1234

usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) BIN=${2:?--bin needs a directory}; shift 2 ;;
        --population) POPULATION=${2:?}; shift 2 ;;
        --crl-entries) CRL_ENTRIES=${2:?}; shift 2 ;;
        --live-seconds) LIVE_SECONDS=${2:?}; shift 2 ;;
        --connections) CONNECTIONS=${2:?}; shift 2 ;;
        --ocspd-threads) OCSPD_THREADS=${2:?}; shift 2 ;;
        --step-timeout) STEP_TIMEOUT=${2:?}; shift 2 ;;
        --quick) POPULATION=2000; CRL_ENTRIES=10000; LIVE_SECONDS=2; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "hsm-bench.sh: unknown argument $1" >&2; usage >&2; exit 64 ;;
    esac
done
case "$POPULATION$CRL_ENTRIES$LIVE_SECONDS$CONNECTIONS$OCSPD_THREADS$STEP_TIMEOUT" in
    *[!0-9]*) echo "hsm-bench.sh: numbers must be whole numbers" >&2; exit 64 ;;
esac
[ "$POPULATION" -gt 0 ] && [ "$CRL_ENTRIES" -gt 0 ] && [ "$LIVE_SECONDS" -gt 0 ] \
    || { echo "hsm-bench.sh: --population, --crl-entries and --live-seconds must be > 0" >&2; exit 64; }

die() { echo "hsm-bench.sh: $*" >&2; exit 1; }
say() { printf '\n== %s\n' "$*"; }
BIN=$(cd "$BIN" 2>/dev/null && pwd) || die "no such directory: $BIN (build with swift build -c release, or give --bin)"
for tool in ocspd ocspctl ocsp-load; do [ -x "$BIN/$tool" ] || die "$BIN/$tool is missing"; done
for tool in softhsm2-util pkcs11-tool openssl python3 curl timeout; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install softhsm2 opensc openssl python3 curl coreutils)"
done
[ -r "$MODULE" ] || die "no SoftHSM2 module at $MODULE (apt-get install softhsm2, or set SOFTHSM_MODULE)"
ENGINE=$(openssl version -e | sed -n 's/^ENGINESDIR: "\(.*\)"$/\1/p')/pkcs11.so
[ -r "$ENGINE" ] || die "no OpenSSL pkcs11 engine at $ENGINE (apt-get install libengine-pkcs11-openssl)"

STARTED=$(date +%s)
umask 077   # key files readable by their owner only, as ocspctl and ocspd require
WORK=$(mktemp -d /tmp/hsm-bench.XXXXXX)
OCSPD_PID=""
cleanup() {
    if [ -n "$OCSPD_PID" ]; then kill "$OCSPD_PID" 2>/dev/null || true; wait "$OCSPD_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cd "$WORK"

# step NAME CMD...: runs CMD, capped at STEP_TIMEOUT, output in NAME.out; on failure shows the
# command and its output and stops.
step() {
    local name=$1; shift
    if ! timeout "$STEP_TIMEOUT" "$@" >"$name.out" 2>&1; then
        echo "hsm-bench.sh: failed: $(printf '%q ' "$@")" >&2
        sed 's/^/    /' "$name.out" >&2
        exit 1
    fi
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

echo "machine:  $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr)"
echo "date:     $(date -u +%Y-%m-%dT%H:%M:%SZ)   $(openssl version)   $(softhsm2-util --version 2>/dev/null | head -1 | sed 's/^/SoftHSM /')"
echo "binaries: $BIN"
echo "sizes:    population $POPULATION, CRL $CRL_ENTRIES entries, live rows ${LIVE_SECONDS}s (+1s warm-up), $CONNECTIONS connections"

# ---------------------------------------------------------------------------------------------
# The token: SoftHSM2 keeps it in $WORK/tokens; one EC P-256 and one RSA-2048 key pair.
# ---------------------------------------------------------------------------------------------
say "SoftHSM2 token and keys"
mkdir tokens
cat >softhsm2.conf <<EOF
directories.tokendir = $WORK/tokens
objectstore.backend = file
log.level = ERROR
EOF
export SOFTHSM2_CONF=$WORK/softhsm2.conf
printf '%s\n' "$PIN" >pin
step token softhsm2-util --init-token --free --label ocsp --pin "$PIN" --so-pin 5678
step keygen-ec pkcs11-tool --module "$MODULE" --login --pin "$PIN" --keypairgen --key-type EC:prime256v1 --label ca-ec --id 01
step keygen-rsa pkcs11-tool --module "$MODULE" --login --pin "$PIN" --keypairgen --key-type RSA:2048 --label ca-rsa --id 02
# OpenSSL's pkcs11 engine, pointed at SoftHSM itself (not whatever p11-kit's proxy would load).
cat >openssl-pkcs11.cnf <<EOF
openssl_conf = openssl_init
[openssl_init]
engines = engine_section
[engine_section]
pkcs11 = pkcs11_section
[pkcs11_section]
engine_id = pkcs11
dynamic_path = $ENGINE
MODULE_PATH = $MODULE
init = 0
[req]
distinguished_name = dn
[dn]
EOF
echo "token ocsp in $WORK/tokens: ca-ec (EC P-256, id 01), ca-rsa (RSA-2048, id 02)"

# The CAs: for each algorithm a file key and a token key, each with its own self-signed certificate.
CA_EXT=(-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign")
step genkey-ec openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec-file.key
step genkey-rsa openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa-file.key
declare -A KEYREF CERT LABEL
for alg in ec rsa; do
    step "cert-$alg-file" openssl req -new -x509 -key "$alg-file.key" -subj "/CN=HSM Bench $alg file CA" -days 3650 \
        -sha256 -out "$alg-file.pem" "${CA_EXT[@]}"
    step "cert-$alg-token" env OPENSSL_CONF="$WORK/openssl-pkcs11.cnf" openssl req -new -x509 -engine pkcs11 -keyform engine \
        -key "pkcs11:token=ocsp;object=ca-$alg;type=private;pin-value=$PIN" -subj "/CN=HSM Bench $alg token CA" \
        -days 3650 -sha256 -out "$alg-token.pem" "${CA_EXT[@]}"
    step "verify-$alg-token" openssl verify -CAfile "$alg-token.pem" "$alg-token.pem"
    KEYREF[$alg-file]=$WORK/$alg-file.key
    KEYREF[$alg-token]="pkcs11:token=ocsp;object=ca-$alg;type=private?module-path=$MODULE&pin-source=file:$WORK/pin"
    CERT[$alg-file]=$WORK/$alg-file.pem
    CERT[$alg-token]=$WORK/$alg-token.pem
done
LABEL=([ec-file]="EC file" [ec-token]="EC token" [rsa-file]="RSA file" [rsa-token]="RSA token")
CONFIGS=(ec-file ec-token rsa-file rsa-token)
echo "token key: ${KEYREF[ec-token]}"

# ---------------------------------------------------------------------------------------------
# Stores: per configuration, one with the population (one in 50 revoked) and one whose
# CRL_ENTRIES certificates are revoked from a list (ocspctl revoke --serials).
# ---------------------------------------------------------------------------------------------
say "stores: $POPULATION certificates each, and $CRL_ENTRIES to revoke"
step population-index python3 "$HERE/population_index.py" "$POPULATION" population.txt
python3 - "$CRL_ENTRIES" <<'PY'
import random, sys
n = int(sys.argv[1])
rng = random.Random(n + 1)
with open("crl-index.txt", "w") as index, open("crl-serials.txt", "w") as serials:
    for i in range(n):
        serial = "%032X" % (rng.getrandbits(126) | (1 << 126))
        index.write(f"V\t361127000000Z\t\t{serial}\tunknown\t/CN=crl leaf {i}\n")
        serials.write(serial + "\n")
PY
declare -A PRESIGN PRESIGN_WALL LIVE LIVE_NOTE REVOKE CRL_S
for c in "${CONFIGS[@]}"; do
    step "init-$c" "$BIN/ocspctl" init --store "pop-$c"
    step "issuer-$c" "$BIN/ocspctl" issuer add --store "pop-$c" --cert "${CERT[$c]}" --key "${KEYREF[$c]}"
    step "import-$c" "$BIN/ocspctl" import --store "pop-$c" --issuer "${CERT[$c]}" --index population.txt
    step "crl-init-$c" "$BIN/ocspctl" init --store "crl-$c"
    step "crl-issuer-$c" "$BIN/ocspctl" issuer add --store "crl-$c" --cert "${CERT[$c]}" --key "${KEYREF[$c]}"
    step "crl-import-$c" "$BIN/ocspctl" import --store "crl-$c" --issuer "${CERT[$c]}" --index crl-index.txt
    echo "${LABEL[$c]}: $(cat "import-$c.out")"
done

# ---------------------------------------------------------------------------------------------
# 1. Pre-signing: ocspctl presign (every core) re-signs the whole population.
# ---------------------------------------------------------------------------------------------
say "1. ocspctl presign, $POPULATION responses"
for c in "${CONFIGS[@]}"; do
    t0=$(now)
    step "presign-$c" "$BIN/ocspctl" presign --store "pop-$c"
    t1=$(now)
    PRESIGN[$c]=$(grep -o '([0-9.]* responses/s' "presign-$c.out" | tr -dc '0-9.')
    PRESIGN_WALL[$c]=$(elapsed "$t0" "$t1")
    [ -n "${PRESIGN[$c]}" ] || die "no rate in the output of ocspctl presign: $(cat "presign-$c.out")"
    printf '%-10s %s   (wall %s s)\n' "${LABEL[$c]}" "$(cat "presign-$c.out")" "${PRESIGN_WALL[$c]}"
done

# ---------------------------------------------------------------------------------------------
# 2. Live signing: ocspd answers nonce requests (each signed then), ocsp-load closed loop.
# ---------------------------------------------------------------------------------------------
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
THREADS_ARGS=()
[ -n "$OCSPD_THREADS" ] && THREADS_ARGS=(--threads "$OCSPD_THREADS")
say "2. ocspd live signing: POST with nonce, ocspd --threads ${OCSPD_THREADS:-default ($(nproc), one per core)}, --live-sign-rate 1000000; ocsp-load --threads 1, $CONNECTIONS connections, ${LIVE_SECONDS}s"
for c in "${CONFIGS[@]}"; do
    port=$(free_port)
    "$BIN/ocspd" --store "pop-$c" --listen "127.0.0.1:$port" --live-sign-rate 1000000 --no-crl --log-format text \
        "${THREADS_ARGS[@]}" >"ocspd-$c.log" 2>&1 &
    OCSPD_PID=$!
    ready=0
    for _ in $(seq 100); do
        if curl -sf -m 1 -o /dev/null "http://127.0.0.1:$port/readyz"; then ready=1; break; fi
        kill -0 "$OCSPD_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [ "$ready" != 1 ]; then
        echo "hsm-bench.sh: ocspd (${LABEL[$c]}) not ready within 10 s; its log:" >&2
        sed 's/^/    /' "ocspd-$c.log" >&2
        exit 1
    fi
    rc=0
    timeout $((LIVE_SECONDS + 60)) "$BIN/ocsp-load" --url "http://127.0.0.1:$port/" --store "pop-$c" --issuer "${CERT[$c]}" \
        --nonce --method post --threads 1 --connections "$CONNECTIONS" --duration "${LIVE_SECONDS}s" --warmup 1s \
        --verify-sample 0.01 --json "live-$c.json" --label "${LABEL[$c]}" >"live-$c.out" 2>&1 || rc=$?
    kill "$OCSPD_PID" 2>/dev/null || true
    wait "$OCSPD_PID" 2>/dev/null || true
    OCSPD_PID=""
    # ocsp-load exits 1 when any answer was wrong (the errors are shown), anything else is a failure.
    if [ "$rc" -gt 1 ] || [ ! -s "live-$c.json" ]; then
        echo "hsm-bench.sh: ocsp-load against ocspd (${LABEL[$c]}) failed (exit $rc):" >&2
        sed 's/^/    /' "live-$c.out" "ocspd-$c.log" >&2
        exit 1
    fi
    read -r rate note < <(python3 - "live-$c.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
l, v = r["latencyMicroseconds"], r.get("verification", {})
errors = ", ".join(f"{k} {n}" for k, n in sorted(r.get("errors", {}).items()) if n) or "0"
print(f"{r['requestsPerSecond']:.0f}", f"p50 {l['p50'] / 1000:.2f} ms, p99 {l['p99'] / 1000:.2f} ms, "
      f"errors {errors}, verified {v.get('passed', 0)} of {v.get('checked', 0)} sampled")
PY
)
    [ -n "${rate:-}" ] || die "cannot read live-$c.json"
    LIVE[$c]=$rate
    LIVE_NOTE[$c]=$note
    printf '%-10s %8s responses/s   %s\n' "${LABEL[$c]}" "$rate" "$note"
    [ "$rc" = 0 ] || { echo "  ocsp-load reported errors (exit 1):"; grep -iE 'error|verif' "live-$c.out" | sed 's/^/    /'; }
done

# ---------------------------------------------------------------------------------------------
# 3. CRL: revoke CRL_ENTRIES certificates from a list, then time ocspctl crl generate (wall).
# ---------------------------------------------------------------------------------------------
say "3. CRL of $CRL_ENTRIES entries: ocspctl revoke --serials, then ocspctl crl generate"
for c in "${CONFIGS[@]}"; do
    step "revoke-$c" "$BIN/ocspctl" revoke --store "crl-$c" --issuer "${CERT[$c]}" --serials crl-serials.txt --reason keyCompromise
    REVOKE[$c]=$(grep -o '([0-9.]*/s)' "revoke-$c.out" | tr -dc '0-9.')
    # Three generations (each a new CRL number): the median goes in the table.
    times=() owns=()
    for round in 1 2 3; do
        t0=$(now)
        step "crl-$c-$round" "$BIN/ocspctl" crl generate --store "crl-$c" --issuer "${CERT[$c]}" --out "$c.crl"
        t1=$(now)
        times+=("$(elapsed "$t0" "$t1")")
        owns+=("$(grep -o 'generated in [0-9.]* s' "crl-$c-$round.out" | tr -dc '0-9.')")
        verified=$(openssl crl -inform DER -in "$c.crl" -CAfile "${CERT[$c]}" -noout 2>&1 || true)
        [ "$verified" = "verify OK" ] || die "the CRL of ${LABEL[$c]} does not verify: $verified"
    done
    CRL_S[$c]=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 2p)
    entries=$(openssl crl -inform DER -in "$c.crl" -noout -text | grep -c "Serial Number" || true)
    [ "$entries" = "$CRL_ENTRIES" ] || die "the CRL of ${LABEL[$c]} has $entries entries, not $CRL_ENTRIES"
    printf '%-10s %s\n           crl generate x3: wall %s s (ocspctl prints %s s); %s entries, each verifies\n' \
        "${LABEL[$c]}" "$(cat "revoke-$c.out")" "${times[*]}" "${owns[*]}" "$entries"
done

# ---------------------------------------------------------------------------------------------
# Table
# ---------------------------------------------------------------------------------------------
ratio() { awk -v t="$1" -v f="$2" 'BEGIN { if (f > 0) printf "%.2f", t / f; else print "-" }'; }
row() {
    local name=$1; shift
    local -n values=$1
    printf '%-34s %10s %10s %8s %10s %10s %8s\n' "$name" \
        "${values[ec-file]}" "${values[ec-token]}" "$(ratio "${values[ec-token]}" "${values[ec-file]}")" \
        "${values[rsa-file]}" "${values[rsa-token]}" "$(ratio "${values[rsa-token]}" "${values[rsa-file]}")"
}
say "PKCS#11 token (SoftHSM2) against PEM file, one run on $(nproc) cores"
printf '%-34s %10s %10s %8s %10s %10s %8s\n' "" "EC file" "EC token" "tok/file" "RSA file" "RSA token" "tok/file"
printf '%-34s %10s %10s %8s %10s %10s %8s\n' "----------------------------------" "----------" "----------" "--------" "----------" "----------" "--------"
row "presign $POPULATION, responses/s" PRESIGN
row "live signing, responses/s" LIVE
row "CRL $CRL_ENTRIES entries, seconds" CRL_S
row "(revoke --serials, revocations/s)" REVOKE
echo
echo "presign: the rate ocspctl presign prints (signing threads: one per core); live: ocsp-load's requests/s,"
echo "POST with a nonce (each answer signed then), ocspd --threads ${OCSPD_THREADS:-default}; CRL: median wall time"
echo "of three ocspctl crl generate (process start, key load, encoding, one signature); revoke: the rate ocspctl prints (it signs"
echo "each revoked certificate's response). The ratio is token over file: below 1 the token is slower for the"
echo "rates, above 1 it is slower for the CRL seconds."
echo
echo "run time: $(($(date +%s) - STARTED)) s"
