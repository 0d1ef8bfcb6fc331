#!/usr/bin/env bash
# Staple refresh benchmark: the time to fetch, verify and write N staples (default 10,000) from a
# local ocspd with `ocsp-stapler --once --watch DIR`, against what an operator would otherwise run:
# a shell loop of `openssl ocsp -issuer CA -cert LEAF -url URL -respout FILE -CAfile CA -no_nonce`
# (verifies the response's signature against the CA and its times; exit status 1 if not), timed
# over the first OPENSSL certificates and extrapolated to N at its measured rate.
#
# An EC P-256 CA signing its own responses, N leaves with an AIA OCSP URL (one key for all,
# python `cryptography`), one chain file (leaf, then CA) each in certs/; one leaf in 1000 revoked;
# `ocspctl presign`, then ocspd on a free loopback port. One untimed stapler pass warms ocspd;
# then for each concurrency: "first" (no staple on disk: all N written) and "again" (the same
# bytes come back: nothing rewritten). Every staple of each first run is checked (python
# `cryptography`: CertID, signature, times, good/revoked as expected), and two with `openssl ocsp`.
#
#   LoadTests/stapler-bench.sh [N]                     # swift build -c release first
#   LoadTests/stapler-bench.sh [N] --bin DIR           # DIR/ocspd, DIR/ocspctl, DIR/ocsp-stapler
#   Options: --openssl COUNT (default 300), --concurrency "1 8 32 64", --revoke-every K (1000; 0: none)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
N=10000
BIN=""
OPENSSL_COUNT=300
CONCURRENCY="1 8 32 64"
REVOKE_EVERY=1000
STAPLER_TIMEOUT=${STAPLER_TIMEOUT:-1200}   # seconds one ocsp-stapler run may take

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) BIN=$(cd "${2:?--bin needs a directory}" && pwd); shift 2 ;;
        --openssl) OPENSSL_COUNT=${2:?--openssl needs a count}; shift 2 ;;
        --concurrency) CONCURRENCY=${2:?--concurrency needs a list}; shift 2 ;;
        --revoke-every) REVOKE_EVERY=${2:?--revoke-every needs a number}; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        [0-9]*) N=$1; shift ;;
        *) echo "stapler-bench.sh: unknown argument $1" >&2; usage >&2; exit 64 ;;
    esac
done
case "$N$OPENSSL_COUNT$REVOKE_EVERY${CONCURRENCY// /}" in
    *[!0-9]*|"") echo "stapler-bench.sh: N, --openssl, --revoke-every and --concurrency must be whole numbers" >&2; exit 64 ;;
esac
[ "$N" -ge 1 ] || { echo "stapler-bench.sh: N must be at least 1" >&2; exit 64; }
[ "$OPENSSL_COUNT" -le "$N" ] || OPENSSL_COUNT=$N
[ "$OPENSSL_COUNT" -ge 1 ] || { echo "stapler-bench.sh: --openssl must be at least 1" >&2; exit 64; }

if [ -z "$BIN" ]; then
    for product in ocspd ocspctl ocsp-stapler; do
        swift build --package-path "$REPO" -c release --product "$product" >/dev/null
    done
    BIN=$(swift build --package-path "$REPO" -c release --show-bin-path)
fi
for tool in ocspd ocspctl ocsp-stapler; do
    [ -x "$BIN/$tool" ] || { echo "stapler-bench.sh: no $BIN/$tool" >&2; exit 1; }
done
python3 -c 'import cryptography' 2>/dev/null \
    || { echo "stapler-bench.sh: needs python3 with the cryptography package" >&2; exit 1; }
TIME=""
[ -x /usr/bin/time ] && TIME=/usr/bin/time   # peak RSS; the column is left out without it

WORK=$(mktemp -d /tmp/stapler-bench.XXXXXX)
OCSPD_PID=""
cleanup() {
    if [ -n "$OCSPD_PID" ] && kill -0 "$OCSPD_PID" 2>/dev/null; then
        kill "$OCSPD_PID" 2>/dev/null || true
        for _ in $(seq 150); do kill -0 "$OCSPD_PID" 2>/dev/null || break; sleep 0.1; done  # drains: 15 s at most
        kill -9 "$OCSPD_PID" 2>/dev/null || true
        wait "$OCSPD_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cd "$WORK"
die() { echo "stapler-bench.sh: $*" >&2; exit 1; }
now() { date +%s.%N; }

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT/"

# 1. The PKI: CA by openssl, the N leaves (chains) by python.
openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
chmod 600 ca.key
openssl req -new -x509 -key ca.key -subj "/CN=Stapler Bench CA" -days 3650 -sha256 -out ca.pem \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
t0=$(now)
python3 "$HERE/stapler_bench_certs.py" make "$N" "$URL" ca.pem ca.key certs "$REVOKE_EVERY"
t1=$(now)
REVOKED=$(wc -l < revoke.txt)
LEAVES=$(find certs -name 'leaf-*.pem' | wc -l)
[ "$LEAVES" -eq "$N" ] || die "made $LEAVES certificates, not $N"

# 2. The store: issuer (CA-signed responses), the leaves as good, some revoked, all presigned.
"$BIN/ocspctl" init --store store >/dev/null
"$BIN/ocspctl" issuer add --store store --cert ca.pem --key ca.key >/dev/null
ADDED=$("$BIN/ocspctl" cert add --store store --dir certs)
if [ "$REVOKED" -gt 0 ]; then
    REVOKE_SAID=$("$BIN/ocspctl" revoke --store store --issuer ca.pem --serials revoke.txt --reason keyCompromise)
else
    REVOKE_SAID="none revoked"
fi
PRESIGNED=$("$BIN/ocspctl" presign --store store)

# 3. ocspd, on the free port; up when /healthz answers 200 (10 s at most).
"$BIN/ocspd" --store store --listen "127.0.0.1:$PORT" > ocspd.log 2>&1 &
OCSPD_PID=$!
code=""
for _ in $(seq 100); do
    kill -0 "$OCSPD_PID" 2>/dev/null || { tail -5 ocspd.log >&2; die "ocspd exited"; }
    code=$(curl -s -m 1 -o /dev/null -w '%{http_code}' "${URL}healthz" || true)
    [ "$code" = 200 ] && break
    sleep 0.1
done
[ "$code" = 200 ] || { tail -5 ocspd.log >&2; die "ocspd did not answer /healthz within 10 s (last: $code)"; }

cat <<EOF
# ocsp-stapler: fetch, verify and write $N staples from a local ocspd

- binaries: $BIN
- $N leaves (EC P-256, one key, AIA $URL) made in $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') s; $REVOKED revoked (one in $REVOKE_EVERY)
- store: $ADDED; $REVOKE_SAID; $PRESIGNED
- ocspd on 127.0.0.1:$PORT, default threads; $(nproc) cores shared by client and server
EOF

# 4. ocsp-stapler. stapler LABEL CONCURRENCY: one timed --once run over certs/, its row in rows.tsv.
stapler() {
    local label=$1 concurrency=$2 start end rc=0 rss="" cpu="" written
    touch marker
    start=$(now)
    if [ -n "$TIME" ]; then
        timeout "$STAPLER_TIMEOUT" "$TIME" -f '%M %U %S' -o rss.txt "$BIN/ocsp-stapler" --once --watch certs \
            --url "$URL" --concurrency "$concurrency" > stapler.log 2>&1 || rc=$?
    else
        timeout "$STAPLER_TIMEOUT" "$BIN/ocsp-stapler" --once --watch certs \
            --url "$URL" --concurrency "$concurrency" > stapler.log 2>&1 || rc=$?
    fi
    end=$(now)
    case "$rc" in
        0|3) ;;
        124) die "ocsp-stapler --concurrency $concurrency did not finish within $STAPLER_TIMEOUT s" ;;
        *) tail -5 stapler.log >&2; die "ocsp-stapler --concurrency $concurrency exited with $rc" ;;
    esac
    [ "$REVOKED" -eq 0 ] || [ "$rc" -eq 3 ] || die "ocsp-stapler exited $rc, expected 3 (revoked staples)"
    if [ -n "$TIME" ]; then
        read -r rss user sys < <(tail -1 rss.txt)
        rss=$((rss / 1024))
        cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.1f", u + s}')
    fi
    written=$(find certs -name 'leaf-*.pem.ocsp' -newer marker | wc -l)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$N" "$written" "$start" "$end" "$rss" "$cpu" >> rows.tsv
    LAST_SUMMARY=$(grep 'refreshed [0-9]* certificate' stapler.log | tail -1 \
        | sed 's/.*ocsp-stapler: \(.*\) \[[a-z_]*\] \(refreshed .*\)/\2 (\1)/' || true)
}

# Warm-up (untimed): every response once through ocspd, so each timed row sees the same server.
timeout "$STAPLER_TIMEOUT" "$BIN/ocsp-stapler" --once --watch certs --url "$URL" > warmup.log 2>&1 || true
: > rows.tsv
: > checks.txt
for c in $CONCURRENCY; do
    find certs -name '*.ocsp' -delete
    stapler "ocsp-stapler --concurrency $c, first" "$c"
    check=$(python3 "$HERE/stapler_bench_certs.py" check ca.pem certs revoke.txt) \
        || die "staples written with --concurrency $c do not all verify: $check"
    echo "concurrency $c: ocsp-stapler said $LAST_SUMMARY; $check" >> checks.txt
    stapler "ocsp-stapler --concurrency $c, again" "$c"
done
# Two staples with openssl too: the first leaf (good) and the first revoked one.
SAMPLE="certs/$(sed -n 1p serials.txt | cut -d' ' -f1)"
if [ "$REVOKE_EVERY" -gt 0 ] && [ "$REVOKE_EVERY" -le "$N" ]; then
    SAMPLE="$SAMPLE certs/$(sed -n "${REVOKE_EVERY}p" serials.txt | cut -d' ' -f1)"
fi
OPENSSL_CHECK=""
for leaf in $SAMPLE; do
    out=$(openssl ocsp -respin "$leaf.ocsp" -issuer ca.pem -cert "$leaf" -CAfile ca.pem -no_nonce 2>&1) \
        || die "openssl ocsp -respin $leaf.ocsp: $out"
    grep -q 'Response verify OK' <<< "$out" || die "openssl ocsp -respin $leaf.ocsp: $out"
    OPENSSL_CHECK="$OPENSSL_CHECK $(grep -o "$(basename "$leaf"): [a-z]*" <<< "$out");"
done

# 5. The openssl loop over the first OPENSSL_COUNT leaves: fetch (POST, no nonce: the cached
# response, as the stapler gets), verify against the CA, write; a staple counts if openssl says
# "Response verify OK" and exits 0.
mkdir -p ossl
head -n "$OPENSSL_COUNT" serials.txt | cut -d' ' -f1 > ossl-list.txt
start=$(now)
while read -r leaf; do
    timeout 10 openssl ocsp -issuer ca.pem -cert "certs/$leaf" -url "$URL" -respout "ossl/$leaf.ocsp" \
        -CAfile ca.pem -no_nonce >> ossl.out 2>&1 || echo "FAILED $leaf" >> ossl.out
done < ossl-list.txt
end=$(now)
VERIFIED=$(grep -c '^Response verify OK' ossl.out || true)
FAILED=$(grep -c '^FAILED' ossl.out || true)
[ "$FAILED" -eq 0 ] && [ "$VERIFIED" -eq "$OPENSSL_COUNT" ] \
    || die "openssl loop: $VERIFIED of $OPENSSL_COUNT verified, $FAILED failed: $(grep -m3 -i 'fail\|error' ossl.out)"
SAME=0
while read -r leaf; do cmp -s "ossl/$leaf.ocsp" "certs/$leaf.ocsp" && SAME=$((SAME + 1)); done < ossl-list.txt

# 6. The table.
echo
python3 - "$OPENSSL_COUNT" "$start" "$end" "$N" "${TIME:+rss}" rows.tsv <<'PY'
import sys
count, start, end, n, with_rss = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
openssl_seconds = end - start
openssl_rate = count / openssl_seconds
rows = [(f"openssl ocsp loop, first {count:,} (measured)", count, str(count), openssl_seconds, "", ""),
        (f"openssl ocsp loop, {n:,} (extrapolated from the {count:,})", n, "—", n / openssl_rate, "", "")]
for line in open(sys.argv[6]):
    label, staples, written, s, e, rss, cpu = line.rstrip("\n").split("\t")
    rows.append((label, int(staples), f"{int(written):,}", float(e) - float(s), rss, cpu))
head = "| what | staples | written | seconds | staples/s | × openssl loop |"
print(head + (" peak RSS MB | CPU s |" if with_rss else ""))
print("|---|---:|---:|---:|---:|---:|" + ("---:|---:|" if with_rss else ""))
for label, staples, written, seconds, rss, cpu in rows:
    rate = staples / seconds
    line = f"| {label} | {staples:,} | {written} | {seconds:.2f} | {rate:,.0f} | {rate / openssl_rate:.2f} |"
    print(line + (f" {rss or '—'} | {cpu or '—'} |" if with_rss else ""))
best = min((r for r in rows[2:] if r[0].endswith("first")), key=lambda r: r[3])
print()
print(f"Fetch, verify and write {n:,} staples: {best[3]:.2f} s with `{best[0].rsplit(',', 1)[0]}` (fastest first run), "
      f"against {n / openssl_rate:.1f} s for the openssl loop at its measured {openssl_rate:,.0f} staples/s "
      f"({count:,} certificates timed, the rest extrapolated): {n / openssl_rate / best[3]:.1f}× faster.")
PY
echo
echo "\"first\": no staples on disk, every one written. \"again\": the same run at once; ocspd answers the same"
echo "cached bytes, which ocsp-stapler compares and does not rewrite (written = files whose mtime changed)."
echo "A warm-up stapler pass (untimed) ran before the first row. The openssl loop writes -respout even when"
echo "verification fails (it only exits 1), so it is the cheaper, less careful variant. Peak RSS and CPU"
echo "(user + system) are ocsp-stapler's own, from /usr/bin/time."
echo
echo "Checks:"
sed 's/^/- /' checks.txt
echo "- openssl ocsp -respin … -CAfile ca.pem: Response verify OK;$OPENSSL_CHECK"
echo "- openssl loop: $VERIFIED of $OPENSSL_COUNT \"Response verify OK\"; $SAME of its staples byte-identical to ocsp-stapler's"
