#!/usr/bin/env bash
# Admin CLI bulk operations on a store of N certificates (default 1,000,000), each with its audit
# records: import of an OpenSSL index.txt, the same import again (nothing changes, nothing is
# written), 100k revocations from a serial list in batched transactions and the same list again,
# `audit verify` over the whole chain, and `audit --json | audit replay` into an empty store.
# Prints seconds and rates, the store's size, and how the audit log's size compares with the rest.
# Usage: LoadTests/admin-bench.sh [N] [REVOKE]   (release build; local files only)
set -euo pipefail
N=${1:-1000000}
REVOKE=${2:-100000}
cd "$(dirname "$0")/.."
ROOT=$PWD
swift build -c release --product ocspctl >/dev/null
BIN=$(swift build -c release --show-bin-path)/ocspctl
WORK=$(mktemp -d /tmp/admin-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
chmod 600 ca.key
openssl req -new -x509 -key ca.key -subj "/CN=Admin Bench CA" -days 3650 -sha256 -out ca.pem \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
python3 "$ROOT/LoadTests/population_index.py" "$N" index.txt
# REVOKE serials of the good ones (every 50th line is revoked in the index already).
awk -F'\t' -v n="$REVOKE" '$1 == "V" && c < n { print $4; c++ }' index.txt > revoke.txt
"$BIN" init --store store >/dev/null
"$BIN" issuer add --store store --cert ca.pem --key ca.key >/dev/null

row() {  # label, count, command...
  local label=$1 count=$2; shift 2
  local start end
  start=$(date +%s.%N)
  "$@" > "$WORK/out.txt"
  end=$(date +%s.%N)
  python3 - "$label" "$count" "$start" "$end" "$(tail -1 "$WORK/out.txt" | cut -c1-110)" <<'PY'
import sys
label, count, start, end, last = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
seconds = end - start
print(f"| {label} | {count:,} | {seconds:.2f} | {count / seconds:,.0f} | {last} |")
PY
}

echo "| step | items | seconds | items/s | ocspctl said |"
echo "|---|---|---|---|---|"
row "import (new)" "$N" "$BIN" import --store store --issuer ca.pem --index index.txt
row "import again (unchanged)" "$N" "$BIN" import --store store --issuer ca.pem --index index.txt
# Without the CA key here, revocations drop cached responses instead of signing: the store's cost.
row "revoke --serials (batches of 1000)" "$REVOKE" "$BIN" revoke --store store --issuer ca.pem --serials revoke.txt --reason keyCompromise
row "revoke the same list again" "$REVOKE" "$BIN" revoke --store store --issuer ca.pem --serials revoke.txt --reason keyCompromise
RECORDS=$("$BIN" audit head --store store | cut -d: -f1)
row "audit verify" "$RECORDS" "$BIN" audit verify --store store
row "audit --json (export)" "$RECORDS" sh -c "'$BIN' audit --store store --json > audit.jsonl; echo exported"
row "audit replay (into an empty store)" "$RECORDS" "$BIN" audit replay --store copy --from audit.jsonl
[ "$("$BIN" audit head --store store)" = "$("$BIN" audit head --store copy)" ] && echo "replayed head = original head"
echo
echo "store: $(du -h store/data.mdb | cut -f1) for $N certificates and $RECORDS audit records (export $(du -h audit.jsonl | cut -f1));" \
  "the copy rebuilt from the log alone (no signed responses): $(du -h copy/data.mdb | cut -f1)"
