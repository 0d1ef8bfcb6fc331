#!/usr/bin/env bash
# Pre-signing benchmark: N certificates (EC P-256 CA signing its own responses) imported from an
# OpenSSL index.txt, then `ocspctl presign` on every core, against `openssl speed` on the same
# machine in the same run. Prints responses/s, peak RSS and the ratio to sign/s × cores.
# Usage: LoadTests/presign-bench.sh [N] (default 1000000). Local files only.
set -euo pipefail
N=${1:-1000000}
KEY=${KEY:-ec}   # ec | rsa
cd "$(dirname "$0")/.."
command -v /usr/bin/time >/dev/null || { apt-get install -y -qq time >/dev/null; }
swift build -c release --product ocspctl >/dev/null
BIN=$(swift build -c release --show-bin-path)/ocspctl
CORES=$(nproc)
WORK=$(mktemp -d /tmp/presign-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

if [ "$KEY" = rsa ]; then
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out ca.key 2>/dev/null
  SPEED=rsa2048
else
  openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
  SPEED=ecdsap256
fi
openssl req -new -x509 -key ca.key -subj "/CN=Presign Bench CA" -days 3650 -sha256 -out ca.pem \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
python3 - "$N" <<'PY'
import os, sys
n = int(sys.argv[1])
with open("index.txt", "w") as f:
    for i in range(n):
        serial = "4" + os.urandom(16).hex().upper()[1:]  # positive, 16 octets
        if i % 50 == 0:
            f.write(f"R\t361231235959Z\t260102030405Z,keyCompromise\t{serial}\tunknown\t/CN=leaf{i}\n")
        else:
            f.write(f"V\t361231235959Z\t\t{serial}\tunknown\t/CN=leaf{i}\n")
PY
"$BIN" init --store store >/dev/null
"$BIN" issuer add --store store --cert ca.pem --key ca.key >/dev/null 2>&1
"$BIN" import --store store --issuer ca.pem --index index.txt >/dev/null

# openssl speed: one core, then every core (-multi), 3 s each.
single=$(openssl speed -seconds 3 "$SPEED" 2>/dev/null | awk -v k="$SPEED" '
  /^ *[0-9]+ bits? ecdsa/ {print $(NF-1)} /^rsa 2048 bits/ {print $(NF-1)}' | tail -1)
multi=$(openssl speed -multi "$CORES" -seconds 3 "$SPEED" 2>/dev/null | awk '
  /^ *[0-9]+ bits? ecdsa/ {print $(NF-1)} /^rsa 2048 bits/ {print $(NF-1)}' | tail -1)

/usr/bin/time -f "%e %M" -o presign.time "$BIN" presign --store store > presign.out
read -r secs kb < presign.time
rate=$(awk -v n="$N" -v s="$secs" 'BEGIN {printf "%.0f", n / s}')
echo
cat presign.out
printf "%-34s %12s\n" "openssl speed $SPEED, 1 core" "$single sign/s"
printf "%-34s %12s\n" "openssl speed $SPEED, $CORES cores" "$multi sign/s"
printf "%-34s %12s   (%s s, peak RSS %d MB)\n" "ocspctl presign, $N" "$rate resp/s" "$secs" $((kb / 1024))
awk -v r="$rate" -v s="$single" -v m="$multi" -v c="$CORES" 'BEGIN {
  printf "ratio to 1-core sign/s x %d cores: %.2f\nratio to openssl speed -multi %d: %.2f\n", c, r / (s * c), c, r / m }'
