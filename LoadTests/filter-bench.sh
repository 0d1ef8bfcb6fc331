#!/usr/bin/env bash
# Revocation filters against the CRL an operator would publish instead, in one run, for a
# population of N certificates with 1 % and 10 % revoked: `ocspctl filter export` (size, bits per
# revoked certificate, seconds, peak RSS) next to `ocspctl crl generate` of the same store (size,
# seconds), with the size ratio. Mozilla's filtercascade (Python) then reads each filter and
# checks every revoked serial and a sample of 100 000 good ones (any false answer fails the run).
#
#   LoadTests/filter-bench.sh [--bin DIR] [--population N] [--rates "1 10"] [--step-timeout S]
#
# DIR holds ocspctl (default .build/release). N defaults to 1000000. Local files only; every
# step is bounded by --step-timeout (default 1800 s); everything is removed at the end.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
BIN=$REPO/.build/release
POPULATION=1000000
RATES="1 10"
STEP_TIMEOUT=1800

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) BIN=${2:?--bin needs a directory}; shift 2 ;;
        --population) POPULATION=${2:?}; shift 2 ;;
        --rates) RATES=${2:?}; shift 2 ;;
        --step-timeout) STEP_TIMEOUT=${2:?}; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "filter-bench.sh: unknown argument $1" >&2; usage >&2; exit 64 ;;
    esac
done
case "$POPULATION$STEP_TIMEOUT${RATES// /}" in
    *[!0-9]*) echo "filter-bench.sh: numbers must be whole numbers" >&2; exit 64 ;;
esac
die() { echo "filter-bench.sh: $*" >&2; exit 1; }
BIN=$(cd "$BIN" 2>/dev/null && pwd) || die "no such directory: $BIN (build with swift build -c release, or give --bin)"
[ -x "$BIN/ocspctl" ] || die "$BIN/ocspctl is missing"
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (apt-get install time)"
python3 -c "import filtercascade" 2>/dev/null || die "python3 filtercascade is missing (pip install filtercascade)"

umask 077
WORK=$(mktemp -d /tmp/filter-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
step() { timeout "$STEP_TIMEOUT" "$@"; }

openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
openssl req -new -x509 -key ca.key -subj "/CN=Filter Bench CA" -days 3650 -sha256 -out ca.pem \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

ROWS=()
for RATE in $RATES; do
    python3 - "$POPULATION" "$RATE" index-$RATE.txt <<'PY'
import random, sys
count, rate, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = random.Random(count * 100 + rate)
every = 100 // rate
with open(path, "w") as out:
    for i in range(count):
        serial = "%032X" % (rng.getrandbits(126) | (1 << 126))
        if i % every == 0:
            out.write(f"R\t361127000000Z\t260101000000Z,keyCompromise\t{serial}\tunknown\t/CN=leaf {i}\n")
        else:
            out.write(f"V\t361127000000Z\t\t{serial}\tunknown\t/CN=leaf {i}\n")
PY
    STORE=store-$RATE
    "$BIN/ocspctl" init --store "$STORE" >/dev/null
    "$BIN/ocspctl" issuer add --store "$STORE" --cert ca.pem --key ca.key >/dev/null
    step "$BIN/ocspctl" import --store "$STORE" --issuer ca.pem --index index-$RATE.txt >/dev/null
    step /usr/bin/time -f "%e %M" -o filter.time "$BIN/ocspctl" filter export --store "$STORE" --issuer ca.pem \
        --out f-$RATE.mlbf --coverage-margin 0 >/dev/null
    step /usr/bin/time -f "%e %M" -o crl.time "$BIN/ocspctl" crl generate --store "$STORE" --issuer ca.pem \
        --out c-$RATE.crl >/dev/null
    step "$BIN/ocspctl" filter verify --filter f-$RATE.mlbf --issuer ca.pem >/dev/null
    read -r filter_s filter_kb < filter.time
    read -r crl_s crl_kb < crl.time
    revoked=$((POPULATION * RATE / 100))
    filter_bytes=$(stat -c %s f-$RATE.mlbf)
    crl_bytes=$(stat -c %s c-$RATE.crl)
    checked=$(step python3 - f-$RATE.mlbf ca.pem index-$RATE.txt <<'PY'
import hashlib, random, sys
import filtercascade
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
fc = filtercascade.FilterCascade.from_buf(open(sys.argv[1], "rb").read())
ca = x509.load_pem_x509_certificate(open(sys.argv[2], "rb").read())
prefix = hashlib.sha256(ca.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).digest()
revoked, good = [], []
for line in open(sys.argv[3]):
    fields = line.split("\t")
    (revoked if fields[0] == "R" else good).append(int(fields[3], 16))
def key(serial): return prefix + serial.to_bytes(serial.bit_length() // 8 + 1, "big")
sample = random.Random(1).sample(good, min(100_000, len(good)))
wrong = sum(key(s) not in fc for s in revoked) + sum(key(s) in fc for s in sample)
if wrong:
    sys.exit(f"filtercascade: {wrong} false answers")
print(len(revoked) + len(sample))
PY
) || die "filtercascade found false answers in the $RATE % filter"
    ROWS+=("$(python3 -c "
n, r, fb, cb = $POPULATION, $revoked, $filter_bytes, $crl_bytes
print(f'{n:>9} {r:>8} {fb:>11} {fb * 8 / r:>8.2f} {cb:>11} {cb / fb:>9.1f}x {float(\"$filter_s\"):>9.2f} {$filter_kb // 1024:>8} {float(\"$crl_s\"):>8.2f} {$checked:>9}')
")")
    rm -rf "$STORE" index-$RATE.txt
done

echo
echo "Revocation filter vs CRL, EC P-256 CA, one run on $(nproc) cores"
printf '%9s %8s %11s %8s %11s %10s %9s %8s %8s %9s\n' population revoked filter_B bits/rev CRL_B CRL/filter filter_s RSS_MB CRL_s checked
for row in "${ROWS[@]}"; do echo "$row"; done
