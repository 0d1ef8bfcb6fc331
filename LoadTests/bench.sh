#!/usr/bin/env bash
# Side-by-side benchmark of ocspd against nginx (static file), CFSSL and `openssl ocsp`, on
# loopback only, every run bounded in time. See LoadTests/README.md.
#
#   LoadTests/bench.sh                 # builds release binaries with `swift build -c release`
#   LoadTests/bench.sh --bin DIR       # uses DIR/ocspd, DIR/ocspctl, DIR/ocsp-load
#
# Environment: BENCH_SECONDS (per row, default 5), BENCH_ROUNDS (GET/POST alternations, default 2),
# BENCH_CONNECTIONS (default 64), OCSPD_THREADS (default 1, like the single nginx worker),
# SIGN_THREADS (ocspd threads for the live-signing rows, default one per core),
# OCSP_LOAD_THREADS (default 1, like wrk -t1),
# BENCH_POPULATION (certificates in the population rows, default 200000; 0 skips them),
# BENCH_POPULATION_ROUNDS (alternations of the population rows, default 5; the summary takes medians),
# BENCH_LARGE (a second, larger population row, e.g. 1000000; default 0: skipped),
# BENCH_REVOKE_RATE (revocations a second in the under-change rows, default 50; 0 skips them),
# BENCH_WWW (where nginx's population files go; default a directory in /dev/shm if it exists).
# Results (this output, one JSON per ocsp-load row, raw wrk/ab output, the table as TSV, a plot)
# go to LoadTests/results/<UTC time>/ (git-ignored), or --out DIR.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
SECS=${BENCH_SECONDS:-5}
ROUNDS=${BENCH_ROUNDS:-2}
CONNS=${BENCH_CONNECTIONS:-64}
OCSPD_THREADS=${OCSPD_THREADS:-1}
SIGN_THREADS=${SIGN_THREADS:-$(nproc)}
LOAD_THREADS=${OCSP_LOAD_THREADS:-1}
BIN=""
OUT=""
INSTALL=1

usage() {
    sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
    echo "Options: --bin DIR, --out DIR, --no-install, -h"
}
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) BIN=$(cd "${2:?--bin needs a directory}" && pwd); shift 2 ;;
        --out) OUT=${2:?--out needs a directory}; shift 2 ;;
        --no-install) INSTALL=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "bench.sh: unknown argument $1" >&2; usage >&2; exit 64 ;;
    esac
done
POPULATION=${BENCH_POPULATION:-200000}
POPULATION_ROUNDS=${BENCH_POPULATION_ROUNDS:-5}
LARGE=${BENCH_LARGE:-0}
REVOKE_RATE=${BENCH_REVOKE_RATE:-50}
case "$SECS$ROUNDS$CONNS$POPULATION$POPULATION_ROUNDS$LARGE$REVOKE_RATE" in
    *[!0-9]*) echo "bench.sh: BENCH_* must be whole numbers" >&2; exit 64 ;;
esac

OUT=${OUT:-$HERE/results/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
exec > >(tee "$OUT/bench.txt") 2>&1

WORK=$(mktemp -d /tmp/ocsp-bench.XXXXXX)
chmod 755 "$WORK"
# nginx's population files: one small file per certificate, on tmpfs when there is one (creating
# a million files on this VM's disk takes minutes; once written, files on disk are served from the
# page cache just the same).
if [ -n "${BENCH_WWW:-}" ]; then WWW=$BENCH_WWW; elif [ -d /dev/shm ]; then WWW=$(mktemp -d /dev/shm/ocsp-bench-www.XXXXXX); else WWW=$WORK/www-population; fi
mkdir -p "$WWW"
chmod 755 "$WWW"
declare -a SERVER_PIDS=()

cleanup() {
    for pid in "${SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${SERVER_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    rm -rf "$WORK" "$WWW"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n== %s\n' "$*"; }
# Prints a command (as it can be pasted) and runs it.
run() { printf '+ %s\n' "$(printf '%q ' "$@")" | tee -a "$OUT/commands.txt"; "$@"; }
die() { echo "bench.sh: $*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------------------------
say "tools"
declare -A PACKAGE=([nginx]=nginx-light [wrk]=wrk [ab]=apache2-utils [cfssl]=golang-cfssl [curl]=curl
                    [openssl]=openssl [python3]=python3)
missing=()
for tool in "${!PACKAGE[@]}"; do command -v "$tool" >/dev/null || missing+=("${PACKAGE[$tool]}"); done
if [ ${#missing[@]} -gt 0 ]; then
    [ "$INSTALL" = 1 ] || die "missing: ${missing[*]} (apt-get install them, or drop --no-install)"
    if [ "$(id -u)" = 0 ]; then
        run apt-get update -q && run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" \
            || die "could not install ${missing[*]}"
    else
        die "missing: ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}"
    fi
fi
# Debian ships nginx in /usr/sbin, which a non-root PATH may lack.
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

if [ -z "$BIN" ]; then
    say "building release binaries"
    for product in ocspd ocspctl ocsp-load; do
        run swift build -c release --package-path "$REPO" --product "$product" || die "swift build failed"
    done
    BIN=$(swift build -c release --package-path "$REPO" --show-bin-path)
fi
for tool in ocspd ocspctl ocsp-load; do [ -x "$BIN/$tool" ] || die "$BIN/$tool is missing"; done

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr)"
echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "nginx:   $("$NGINX" -v 2>&1 | sed 's/.*: //')   wrk: $(wrk -v 2>&1 | head -1 | awk '{print $2}')   ab: $(ab -V | head -1 | awk '{print $5}')"
echo "cfssl:   $(cfssl version 2>/dev/null | head -1 | awk '{print $2}')   $(openssl version)"
echo "binaries: $BIN"
echo "rows: ${SECS}s each (+1s warm-up), $CONNS connections; ocspd --threads $OCSPD_THREADS; ocsp-load --threads $LOAD_THREADS"

# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wait_port PORT: until something accepts on 127.0.0.1:PORT (10 s at most).
wait_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    die "nothing listens on 127.0.0.1:$1"
}

# wait_ocsp PORT REQUEST.der: until a POST of REQUEST gets an answer (10 s at most). For
# `openssl ocsp`, which a bare connect-and-close probe would stall for its -timeout.
wait_ocsp() {
    for _ in $(seq 100); do
        curl -sf -m 2 -o /dev/null -H 'Content-Type: application/ocsp-request' --data-binary "@$2" \
            "http://127.0.0.1:$1/" && return 0
        sleep 0.1
    done
    die "no OCSP answer from 127.0.0.1:$1"
}

# start NAME CMD...: runs CMD in the background (log in $WORK/NAME.log); sets LAST_PID.
start() {
    local name=$1; shift
    printf '+ %s &\n' "$(printf '%q ' "$@")" | tee -a "$OUT/commands.txt"
    "$@" >"$WORK/$name.log" 2>&1 &
    LAST_PID=$!
    SERVER_PIDS+=("$LAST_PID")
}
stop() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

WRK_PREFIX=()
ROWS="$OUT/table.tsv"
printf 'group\tserver\trequest\tclient\treq_per_s\tp50_ms\tp99_ms\terrors\treference\n' >"$ROWS"
# Rows are compared with the reference row ("ref") of the same group and client.
GROUP="one hot response"
slug() { echo "$*" | tr 'A-Z' 'a-z' | tr -cs 'a-z0-9' '-' | sed 's/-$//'; }

# wrk_row SERVER REQUEST REFERENCE URL [-s script -- args]: a wrk -t1 run (after a 1 s warm-up).
wrk_row() {
    local server=$1 request=$2 ref=$3; shift 3
    local file
    file="$OUT/$(slug "$GROUP $server $request wrk").txt"
    "${WRK_PREFIX[@]}" wrk -t1 -c"$CONNS" -d1s "$@" >/dev/null 2>&1
    run "${WRK_PREFIX[@]}" wrk -t1 -c"$CONNS" -d"${SECS}s" --latency "$@" | tee "$file"
    python3 - "$file" "$server" "$request" "$ref" "$GROUP" >>"$ROWS" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
def ms(value):
    number, unit = re.match(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]
rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
p50 = re.search(r"\s50%\s+(\S+)", text)
p99 = re.search(r"\s99%\s+(\S+)", text)
errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", text))
socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
if socket: errors += sum(int(n) for n in socket.groups())
print("\t".join([sys.argv[5], sys.argv[2], sys.argv[3], "wrk -t1",
                 f"{float(rps.group(1)):.0f}" if rps else "0",
                 f"{ms(p50.group(1)):.3f}" if p50 else "-", f"{ms(p99.group(1)):.3f}" if p99 else "-",
                 str(errors), sys.argv[4]]))
EOF
}

# load_row SERVER REQUEST REFERENCE URL ARGS...: an ocsp-load closed-loop run.
load_row() {
    local server=$1 request=$2 ref=$3 url=$4; shift 4
    local json
    json="$OUT/$(slug "$GROUP $server $request ocsp-load").json"
    run "$BIN/ocsp-load" --url "$url" --connections "$CONNS" --threads "$LOAD_THREADS" --duration "${SECS}s" \
        --warmup 1s --json "$json" --label "$server, $request" "$@"
    python3 - "$json" "$server" "$request" "$ref" "$GROUP" >>"$ROWS" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
l = r["latencyMicroseconds"]
print("\t".join([sys.argv[5], sys.argv[2], sys.argv[3], "ocsp-load", f"{r['requestsPerSecond']:.0f}",
                 f"{l['p50'] / 1000:.3f}", f"{l['p99'] / 1000:.3f}", str(r["errorCount"]), sys.argv[4]]))
EOF
}

# ab_row SERVER REQUEST REFERENCE URL [ab args]: ApacheBench, HTTP/1.0, one connection per request.
# No warm-up run: ab leaves connections open when its time is up, which stalls `openssl ocsp`.
ab_row() {
    local server=$1 request=$2 ref=$3 url=$4; shift 4
    local file
    file="$OUT/$(slug "$GROUP $server $request ab").txt"
    run ab -q -t "$SECS" -n 10000000 -c "$CONNS" "$@" "$url" 2>&1 | tee "$file"
    python3 - "$file" "$server" "$request" "$ref" "$GROUP" >>"$ROWS" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
def find(pattern, default="0"):
    m = re.search(pattern, text)
    return m.group(1) if m else default
# "Length" failures are not errors here: ECDSA signatures (so responses) differ in length.
failed = re.search(r"\(Connect: (\d+), Receive: (\d+), Length: \d+, Exceptions: (\d+)\)", text)
errors = sum(int(n) for n in failed.groups()) if failed else 0
errors += int(find(r"Non-2xx responses:\s+(\d+)"))
rps = float(find(r"Requests per second:\s+([\d.]+)"))
p50 = float(find(r"\s50%\s+(\d+)", "nan"))
p99 = float(find(r"\s99%\s+(\d+)", "nan"))
print("\t".join([sys.argv[5], sys.argv[2], sys.argv[3], "ab (HTTP/1.0)", f"{rps:.0f}", f"{p50:.3f}", f"{p99:.3f}",
                 str(errors), sys.argv[4]]))
EOF
}

# ---------------------------------------------------------------------------------------------
# Signing speed of this machine (one core), for reference
# ---------------------------------------------------------------------------------------------
say "openssl speed (one core)"
run openssl speed -seconds 2 ecdsap256 rsa2048 2>/dev/null | tee "$OUT/openssl-speed.txt" | grep -E "sign|bits"
SPEED=$(python3 - "$OUT/openssl-speed.txt" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
rsa = re.search(r"^rsa\s+2048 bits\s+\S+\s+\S+\s+([\d.]+)", text, re.M)
ec = re.search(r"256 bits ecdsa \(nistp256\)\s+\S+\s+\S+\s+([\d.]+)", text)
print(f"openssl speed: ECDSA P-256 {float(ec.group(1)):.0f} sign/s, RSA-2048 {float(rsa.group(1)):.0f} sign/s (one core)"
      if rsa and ec else "openssl speed: could not parse the output")
EOF
)

# ---------------------------------------------------------------------------------------------
# Demo PKI, ocspd, the requests and the response bytes the other servers serve
# ---------------------------------------------------------------------------------------------
say "demo PKI and ocspd"
OCSPD_PORT=$(free_port)
run "$BIN/ocspctl" demo --dir "$WORK/demo" --url "http://127.0.0.1:$OCSPD_PORT/" >/dev/null || die "ocspctl demo failed"
OCSPD_ARGS=(--store "$WORK/demo/store" --listen "127.0.0.1:$OCSPD_PORT" --threads "$OCSPD_THREADS")
# Measure signing, not the live-signing limiter, in the nonce rows.
# (Not `| grep -q`: grep quits at the first match, ocspd then dies of SIGPIPE, and pipefail makes the
# test false, so the live-signing rows measured the 2000/s limiter: tryLater for most requests.)
if "$BIN/ocspd" --help 2>&1 | grep -c -- --live-sign-rate >/dev/null; then OCSPD_ARGS+=(--live-sign-rate 1000000); fi
# Text logs where the script reads them (the refresher's counts); JSON is the default since issue 19.
OCSPD_LOG_ARGS=()
if "$BIN/ocspd" --help 2>&1 | grep -q -- --log-format; then OCSPD_LOG_ARGS=(--log-format text); fi
start ocspd "$BIN/ocspd" "${OCSPD_ARGS[@]}"
OCSPD_PID=$LAST_PID
wait_port "$OCSPD_PORT"
OCSPD="http://127.0.0.1:$OCSPD_PORT/"
# What the metrics cost: the same server with --no-metrics, in the same rounds (binaries that
# have the flag; older ones get no such rows).
METRICS_OFF=0
if "$BIN/ocspd" --help 2>&1 | grep -q -- --no-metrics; then METRICS_OFF=1; fi

run "$BIN/ocsp-load" --store "$WORK/demo/store" --write-requests "$WORK/requests.txt"
run "$BIN/ocsp-load" --store "$WORK/demo/store" --issuer "$WORK/demo/ec-root.pem" --write-requests "$WORK/ec-requests.txt"
# Every response, base64 per line (CFSSL's responses file); the first EC one is nginx's file.
: >"$WORK/responses.b64"
while read -r line; do
    case "$line" in ''|'#'*) continue ;; esac
    encoded=$(printf '%s' "$line" | sed 's|+|%2B|g; s|/|%2F|g; s|=|%3D|g')
    curl -sf "$OCSPD$encoded" -o "$WORK/one.der" || die "ocspd did not answer GET /$encoded"
    base64 -w0 "$WORK/one.der" >>"$WORK/responses.b64"
    echo >>"$WORK/responses.b64"
done <"$WORK/requests.txt"
mkdir -p "$WORK/www"
first_ec=$(grep -v '^#' "$WORK/ec-requests.txt" | head -1)
curl -sf "$OCSPD$(printf '%s' "$first_ec" | sed 's|+|%2B|g; s|/|%2F|g; s|=|%3D|g')" -o "$WORK/www/resp.der"
printf '%s' "$first_ec" | base64 -d >"$WORK/ec-request.der"
chmod 755 "$WORK/www"; chmod 644 "$WORK/www/resp.der"
echo "requests: $(grep -vc '^#' "$WORK/requests.txt") (EC $(grep -vc '^#' "$WORK/ec-requests.txt")); nginx serves $(stat -c %s "$WORK/www/resp.der") bytes"

LUA="$HERE/wrk/ocsp.lua"

# ---------------------------------------------------------------------------------------------
# nginx: the same response bytes as a static file, one worker
# ---------------------------------------------------------------------------------------------
# nginx_conf NAME PORT EXTRA: writes $WORK/NAME.conf.
nginx_conf() {
    local name=$1 port=$2 extra=$3
    mkdir -p "$WORK/$name-tmp"
    cat >"$WORK/$name.conf" <<EOF
worker_processes 1;
pid $WORK/$name.pid;
error_log $WORK/$name-error.log warn;
events { worker_connections 4096; }
http {
    client_body_temp_path $WORK/$name-tmp;
    $extra
    server {
        listen 127.0.0.1:$port;
        root $WORK/www;
        location / { try_files /resp.der =404; default_type application/ocsp-response; }
    }
}
EOF
}
NGINX_TUNED='access_log off; sendfile on; tcp_nopush on; keepalive_requests 1000000;
    open_file_cache max=100 inactive=60s; open_file_cache_valid 60s;'
# Debian's stock nginx.conf minus what does not apply: access log on, sendfile, default keep-alive.
NGINX_DEFAULT="access_log $WORK/nginx-default-access.log; sendfile on; tcp_nopush on;"

say "nginx, tuned (static file)"
NGINX_PORT=$(free_port)
nginx_conf nginx-tuned "$NGINX_PORT" "$NGINX_TUNED"
start nginx-tuned "$NGINX" -p "$WORK" -c "$WORK/nginx-tuned.conf" -e "$WORK/nginx-tuned-error.log" -g 'daemon off;'
NGINX_PID=$LAST_PID
wait_port "$NGINX_PORT"
NGINX_URL="http://127.0.0.1:$NGINX_PORT/"
wrk_row "nginx tuned" "GET" ref "$NGINX_URL" -s "$LUA" -- "$WORK/requests.txt" get
load_row "nginx tuned" "GET" ref "$NGINX_URL" --store "$WORK/demo/store" --method get --verify-sample 0
ab_row "nginx tuned" "GET" ref "$NGINX_URL$(printf '%s' "$first_ec" | sed 's|+|%2B|g; s|/|%2F|g; s|=|%3D|g')"
stop "$NGINX_PID"

say "nginx, default-ish (access log on, default keepalive_requests, no open_file_cache)"
NGINX_PORT=$(free_port)
nginx_conf nginx-default "$NGINX_PORT" "$NGINX_DEFAULT"
start nginx-default "$NGINX" -p "$WORK" -c "$WORK/nginx-default.conf" -e "$WORK/nginx-default-error.log" -g 'daemon off;'
NGINX_PID=$LAST_PID
wait_port "$NGINX_PORT"
NGINX_URL="http://127.0.0.1:$NGINX_PORT/"
wrk_row "nginx default" "GET" - "$NGINX_URL" -s "$LUA" -- "$WORK/requests.txt" get
load_row "nginx default" "GET" - "$NGINX_URL" --store "$WORK/demo/store" --method get --verify-sample 0
stop "$NGINX_PID"

# ---------------------------------------------------------------------------------------------
# ocspd: GET and POST alternated (the machine is noisy), then live signing with nonces
# ---------------------------------------------------------------------------------------------
# Answers are checked (--verify-sample) sparingly: a signature check costs ~0.1 ms of a core that the
# server, on a 2-core machine, would otherwise use.
if [ "$METRICS_OFF" = 1 ]; then
    OFF_PORT=$(free_port)
    start ocspd-metrics-off "$BIN/ocspd" "${OCSPD_ARGS[@]/127.0.0.1:$OCSPD_PORT/127.0.0.1:$OFF_PORT}" --no-metrics
    OFF_PID=$LAST_PID
    wait_port "$OFF_PORT"
    OCSPD_OFF="http://127.0.0.1:$OFF_PORT/"
fi
for round in $(seq "$ROUNDS"); do
    say "ocspd GET / POST, round $round of $ROUNDS"
    wrk_row "ocspd" "GET #$round" - "$OCSPD" -s "$LUA" -- "$WORK/requests.txt" get
    wrk_row "ocspd" "POST #$round" - "$OCSPD" -s "$LUA" -- "$WORK/requests.txt" post
    if [ "$METRICS_OFF" = 1 ]; then
        wrk_row "ocspd, metrics off" "GET #$round" - "$OCSPD_OFF" -s "$LUA" -- "$WORK/requests.txt" get
        wrk_row "ocspd, metrics off" "POST #$round" - "$OCSPD_OFF" -s "$LUA" -- "$WORK/requests.txt" post
    fi
    load_row "ocspd" "GET #$round" - "$OCSPD" --store "$WORK/demo/store" --method get --verify-sample 0.001
    load_row "ocspd" "POST #$round" - "$OCSPD" --store "$WORK/demo/store" --method post --verify-sample 0.001
done

stop "$OCSPD_PID"
[ "$METRICS_OFF" = 1 ] && stop "$OFF_PID"

# Live signing is CPU-bound: measure it with a thread per core (ocspd's default), not the single
# thread that matches nginx's one worker above.
say "ocspd with nonces (every answer signed live), --threads $SIGN_THREADS"
OCSPD_ARGS[5]=$SIGN_THREADS
start ocspd-sign "$BIN/ocspd" "${OCSPD_ARGS[@]}"
OCSPD_PID=$LAST_PID
wait_port "$OCSPD_PORT"
load_row "ocspd" "POST nonce, EC P-256" - "$OCSPD" --store "$WORK/demo/store" --issuer "$WORK/demo/ec-root.pem" \
    --nonce --method post --verify-sample 0.01
load_row "ocspd" "POST nonce, RSA-2048" - "$OCSPD" --store "$WORK/demo/store" --issuer "$WORK/demo/rsa-ca.pem" \
    --nonce --method post --verify-sample 0.01
stop "$OCSPD_PID"

# ---------------------------------------------------------------------------------------------
# CFSSL: ocspserve from a file of ocspd's responses
# ---------------------------------------------------------------------------------------------
say "cfssl ocspserve (responses file made from ocspd's responses)"
CFSSL_PORT=$(free_port)
start cfssl cfssl ocspserve -address 127.0.0.1 -port "$CFSSL_PORT" -responses "$WORK/responses.b64" -loglevel 3
CFSSL_PID=$LAST_PID
wait_port "$CFSSL_PORT"
wrk_row "cfssl ocspserve" "POST" - "http://127.0.0.1:$CFSSL_PORT/" -s "$LUA" -- "$WORK/requests.txt" post
load_row "cfssl ocspserve" "POST" - "http://127.0.0.1:$CFSSL_PORT/" --store "$WORK/demo/store" --method post \
    --verify-sample 0.001
stop "$CFSSL_PID"

# ---------------------------------------------------------------------------------------------
# openssl ocsp: signs every answer, one process, HTTP/1.0 (a connection per request)
# ---------------------------------------------------------------------------------------------
say "openssl ocsp (EC issuer, delegated responder, live signing)"
: >"$WORK/index.txt"
for leaf in "$WORK"/demo/leaves/leaf-ec-*.pem; do
    serial=$(openssl x509 -in "$leaf" -noout -serial | cut -d= -f2)
    expiry=$(date -u -d "$(openssl x509 -in "$leaf" -noout -enddate | cut -d= -f2)" +%y%m%d%H%M%SZ)
    subject=$(openssl x509 -in "$leaf" -noout -subject -nameopt compat | sed 's/^subject=//')
    if [ "$(basename "$leaf")" = leaf-ec-02.pem ]; then   # the demo's revoked leaf
        printf 'R\t%s\t%s,keyCompromise\t%s\tunknown\t%s\n' "$expiry" "$(date -u +%y%m%d%H%M%SZ)" "$serial" "$subject"
    else
        printf 'V\t%s\t\t%s\tunknown\t%s\n' "$expiry" "$serial" "$subject"
    fi >>"$WORK/index.txt"
done
OPENSSL_ARGS=(-index "$WORK/index.txt" -rsigner "$WORK/demo/responder.pem" -rkey "$WORK/demo/responder.key"
              -CA "$WORK/demo/ec-root.pem" -ndays 1 -ignore_err -timeout 5)
# One fresh server per client: a client that leaves a connection open at the end stalls it.
OPENSSL_PORT=$(free_port)
start openssl-ab openssl ocsp "${OPENSSL_ARGS[@]}" -port "$OPENSSL_PORT"
OPENSSL_PID=$LAST_PID
wait_ocsp "$OPENSSL_PORT" "$WORK/ec-request.der"
ab_row "openssl ocsp" "POST" - "http://127.0.0.1:$OPENSSL_PORT/" -p "$WORK/ec-request.der" -T application/ocsp-request
stop "$OPENSSL_PID"
OPENSSL_PORT=$(free_port)
start openssl-load openssl ocsp "${OPENSSL_ARGS[@]}" -port "$OPENSSL_PORT"
OPENSSL_PID=$LAST_PID
wait_ocsp "$OPENSSL_PORT" "$WORK/ec-request.der"
# Status not checked: this index.txt has its own revocation time.
load_row "openssl ocsp" "POST" - "http://127.0.0.1:$OPENSSL_PORT/" --requests "$WORK/ec-requests.txt" \
    --method post --verify-sample 0
stop "$OPENSSL_PID"

# ---------------------------------------------------------------------------------------------
# A CA's whole population (LoadTests/population.sh, in this run and this table)
# ---------------------------------------------------------------------------------------------
# shellcheck source=population.sh
. "$HERE/population.sh"

# ---------------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------------
say "results"
cp "$WORK"/*.conf "$WORK/index.txt" "$OUT/" 2>/dev/null   # the server configurations, for the record
# One line per server and kind of request (the first round of GET/POST).
plots=()
for name in nginx-tuned-get ocspd-get-1 ocspd-post-1 ocspd-post-nonce-ec-p-256 ocspd-post-nonce-rsa-2048 \
    cfssl-ocspserve-post openssl-ocsp-post; do
    [ -f "$OUT/one-hot-response-$name-ocsp-load.json" ] && plots+=("$OUT/one-hot-response-$name-ocsp-load.json")
done
[ ${#plots[@]} -gt 0 ] && run "$BIN/ocsp-load" --plot-from "${plots[@]}" --plot "$OUT/latency.svg" \
    --label "ocsp-load closed loop, $CONNS connections, $(date -u +%Y-%m-%d), $(nproc) cores"
python3 - "$ROWS" "$OUT/table.txt" "${CHANGE_NOTE:-}" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
reference = {(r["group"], r["client"]): float(r["req_per_s"]) for r in rows if r["reference"] == "ref"}
head = ["group", "server", "request", "client", "req/s", "p50 ms", "p99 ms", "errors", "× ref"]
table = []
for r in rows:
    ref = reference.get((r["group"], r["client"]))
    ratio = f"{float(r['req_per_s']) / ref:.2f}" if ref else "-"
    table.append([r["group"], r["server"], r["request"], r["client"], r["req_per_s"], r["p50_ms"], r["p99_ms"],
                  r["errors"], ratio])
widths = [max(len(str(x)) for x in col) for col in zip(head, *table)]
right = {4, 5, 6, 7, 8}
def line(cells):
    return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
out = [line(head), line(["-" * w for w in widths])] + [line(t) for t in table]
out.append("")
out.append("× ref: req/s over the nginx row of the same group and client: for one hot response, nginx tuned serving")
out.append("it as a static file; for a population, nginx serving the same responses as one file each.")
# Population: the median over the rounds of each ocspd row's ratio to nginx in its round.
import re
groups = {}
for r in rows:
    m = re.match(r"(\S+) (uniform|Zipf s=1) #(\d+)$", r["group"])
    if m and r["server"] == "ocspd":
        ref = reference.get((r["group"], r["client"]))
        if ref:
            groups.setdefault((m.group(1), m.group(2), r["request"]), []).append(float(r["req_per_s"]) / ref)
if groups:
    out.append("")
    out.append("Population, ocspd over nginx with files (median of the rounds, and their range):")
    for (size, distribution, request), ratios in groups.items():
        out.append(f"  {size:>6} {request:<13} {statistics.median(ratios):.2f}  ({min(ratios):.2f}-{max(ratios):.2f}, {len(ratios)} rounds)")
# Metrics: ocspd over the same ocspd with --no-metrics, row by row in the same round.
metrics = {}
for r in rows:
    if r["server"] != "ocspd, metrics off":
        continue
    on = [q for q in rows if q["server"] == "ocspd" and q["group"] == r["group"] and q["request"] == r["request"]
          and q["client"] == r["client"]]
    if on:
        kind = re.sub(r" #\d+$", "", r["request"])
        size = re.match(r"(\S+ (uniform|Zipf s=1))", r["group"])
        key = f"{size.group(1) if size else 'one hot response'} {kind}"
        metrics.setdefault(key, []).append(float(on[0]["req_per_s"]) / float(r["req_per_s"]))
if metrics:
    out.append("")
    out.append("Metrics on over off (ocspd over ocspd --no-metrics in the same round; median, range):")
    for key, ratios in metrics.items():
        out.append(f"  {key:<28} {statistics.median(ratios):.3f}  ({min(ratios):.3f}-{max(ratios):.3f}, {len(ratios)} rounds)")
# Under change: ocspd's rate while revocations land and the refresher re-signs, over its quiet
# rate (the mean of the quiet rounds' wrk rows of the same request).
changed = [r for r in rows if r["group"].endswith("under change")]
if changed:
    out.append("")
    out.append("Under change (x quiet: over the mean of ocspd's quiet wrk rows of the same request):")
    for r in changed:
        kind = r["request"].split(" #")[0]
        size = r["group"].split(" ")[0]
        distribution = "uniform" if "uniform" in kind else "Zipf s=1"
        quiet = [float(q["req_per_s"]) for q in rows if q["server"] == "ocspd" and q["request"] == kind
                 and q["client"] == "wrk -t1" and q["group"].startswith(f"{size} {distribution} #")]
        ratio = f"{float(r['req_per_s']) / statistics.mean(quiet):.2f}" if quiet else "-"
        out.append(f"  {r['request']:<16} {float(r['req_per_s']):>9.0f} req/s  p99 {r['p99_ms']} ms  x quiet {ratio}")
    if sys.argv[3]:
        out.append("  " + sys.argv[3])
text = "\n".join(out)
print(text)
open(sys.argv[2], "w").write(text + "\n")
EOF
echo "$SPEED"
python3 - "$ROWS" "$OUT/openssl-speed.txt" <<'EOF'
import csv, re, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
text = open(sys.argv[2]).read()
speed = {"EC P-256": re.search(r"256 bits ecdsa \(nistp256\)\s+\S+\s+\S+\s+([\d.]+)", text),
         "RSA-2048": re.search(r"^rsa\s+2048 bits\s+\S+\s+\S+\s+([\d.]+)", text, re.M)}
for r in rows:
    for key, m in speed.items():
        if r["request"].endswith(key) and m:
            print(f"live signing, {key}: {float(r['req_per_s']):.0f} req/s = "
                  f"{float(r['req_per_s']) / float(m.group(1)):.2f} x openssl speed (one core)")
EOF
echo
echo "results in $OUT"
