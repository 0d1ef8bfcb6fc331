#!/usr/bin/env bash
# CRL generation benchmark: N revoked certificates, `ocspctl crl generate` against
# `openssl ca -gencrl` on the same OpenSSL index.txt, in one run. Prints seconds, peak RSS
# and the ratio. Usage: LoadTests/crl-bench.sh [N] (default 1000000). Local files only.
set -euo pipefail
N=${1:-1000000}
OPENSSL_TIMEOUT=${OPENSSL_TIMEOUT:-600}
cd "$(dirname "$0")/.."
command -v /usr/bin/time >/dev/null || { apt-get install -y -qq time >/dev/null; }
swift build -c release --product ocspctl >/dev/null
BIN=$(swift build -c release --show-bin-path)/ocspctl
WORK=$(mktemp -d /tmp/crl-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
openssl req -new -x509 -key ca.key -subj "/CN=CRL Bench CA" -days 3650 -sha256 -out ca.pem \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
python3 - "$N" <<'PY'
import os, sys
n = int(sys.argv[1])
reasons = ["keyCompromise", "superseded", "cessationOfOperation", "affiliationChanged", ""]
with open("index.txt", "w") as f:
    for i in range(n):
        serial = os.urandom(16).hex().upper()
        serial = ("4" + serial[1:])  # positive, 16 octets
        reason = reasons[i % len(reasons)]
        rev = "260102030405Z" + ("," + reason if reason else "")
        f.write(f"R\t361231235959Z\t{rev}\t{serial}\tunknown\t/CN=leaf{i}\n")
PY
cat > ca.cnf <<CNF
[ ca ]
default_ca = bench
[ bench ]
database = $WORK/index.txt
certificate = $WORK/ca.pem
private_key = $WORK/ca.key
crlnumber = $WORK/crlnumber
default_md = sha256
default_crl_days = 7
CNF
echo 01 > crlnumber

"$BIN" init --store store >/dev/null
"$BIN" issuer add --store store --cert ca.pem --key ca.key >/dev/null 2>&1
/usr/bin/time -f "%e %M" -o import.time "$BIN" import --store store --issuer ca.pem --index index.txt
/usr/bin/time -f "%e %M" -o ocspctl.time "$BIN" crl generate --store store --issuer ca.pem --out ours.crl
openssl crl -inform DER -in ours.crl -CAfile ca.pem -noout 2>&1 | grep -q "verify OK"
ours_entries=$(openssl crl -inform DER -in ours.crl -noout -text | grep -c "Serial Number")

if /usr/bin/time -f "%e %M" -o openssl.time timeout "$OPENSSL_TIMEOUT" openssl ca -gencrl -config ca.cnf -out theirs.pem 2>/dev/null; then
  theirs_entries=$(openssl crl -in theirs.pem -noout -text | grep -c "Serial Number")
else
  echo "openssl ca -gencrl did not finish within ${OPENSSL_TIMEOUT}s" > openssl.time
  theirs_entries=0
fi

read -r ours_s ours_kb < ocspctl.time
read -r imp_s imp_kb < import.time
echo
echo "CRL generation, $N revoked certificates, EC P-256 CA, one run on $(nproc) cores"
printf "%-34s %10s %12s %10s\n" "command" "seconds" "peak RSS MB" "entries"
printf "%-34s %10s %12d %10s\n" "ocspctl import (index.txt)" "$imp_s" $((imp_kb / 1024)) "$N"
printf "%-34s %10s %12d %10s\n" "ocspctl crl generate" "$ours_s" $((ours_kb / 1024)) "$ours_entries"
if read -r theirs_s theirs_kb < openssl.time 2>/dev/null && [ "$theirs_entries" -gt 0 ]; then
  printf "%-34s %10s %12d %10s\n" "openssl ca -gencrl" "$theirs_s" $((theirs_kb / 1024)) "$theirs_entries"
  python3 -c "print(f'ratio: openssl ca -gencrl takes {float(\"$theirs_s\") / float(\"$ours_s\"):.1f}x as long as ocspctl crl generate')"
else
  cat openssl.time
fi
