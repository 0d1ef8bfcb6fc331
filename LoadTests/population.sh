# Sourced by bench.sh (it uses bench.sh's helpers and variables): a CA's whole population.
# Requests spread over every certificate of one issuer, against nginx serving the very same
# responses as one file each (what an operator could build from pre-generated responses), then the
# same while revocations land and the refresher re-signs. See LoadTests/README.md.

# population_setup NAME COUNT VALIDITY: a demo PKI whose EC issuer gets COUNT more certificates
# (one in 50 revoked) from an index.txt, signed with response validity VALIDITY (seconds); the
# requests (one per certificate, SHA-1 CertID) in $WORK/NAME/requests.txt and the stored
# responses as files in $WWW/NAME, named by their url-safe GET path.
population_setup() {
    local name=$1 count=$2 validity=$3 dir=$WORK/$1
    run "$BIN/ocspctl" demo --dir "$dir" --url "http://127.0.0.1:9/" >/dev/null || die "ocspctl demo failed"
    run "$BIN/ocspctl" issuer add --replace --store "$dir/store" --cert "$dir/ec-root.pem" --key "$dir/ec-root.key" \
        --responder-cert "$dir/responder.pem" --responder-key "$dir/responder.key" --validity "$validity" >/dev/null \
        || die "ocspctl issuer add failed"
    python3 "$HERE/population_index.py" "$count" "$dir/index.txt" || die "cannot write the index"
    run "$BIN/ocspctl" import --store "$dir/store" --issuer "$dir/ec-root.pem" --index "$dir/index.txt" --presign \
        || die "ocspctl import failed"
    POPULATION_SIGNED=$(date +%s)
    run "$BIN/ocsp-load" --store "$dir/store" --issuer "$dir/ec-root.pem" --write-requests "$dir/requests.txt" \
        --write-responses "$WWW/$name" || die "ocsp-load could not write the requests and responses"
    echo "$(grep -vc '^#' "$dir/requests.txt") requests; nginx serves $(find "$WWW/$name" -type f | wc -l) files," \
        "$(du -sb "$WWW/$name" | cut -f1) bytes"
}

# nginx_population_conf NAME PORT ROOT: one worker serving ROOT, open_file_cache as large as the
# descriptor limit allows (a population larger than that is opened and closed per request).
nginx_population_conf() {
    local name=$1 port=$2 root=$3 limit
    limit=$(ulimit -Hn)
    [ "$limit" = unlimited ] && limit=1048576
    mkdir -p "$WORK/$name-tmp"
    cat >"$WORK/$name.conf" <<EOF
worker_processes 1;
worker_rlimit_nofile $limit;
pid $WORK/$name.pid;
error_log $WORK/$name-error.log warn;
events { worker_connections 4096; }
http {
    client_body_temp_path $WORK/$name-tmp;
    access_log off; sendfile on; tcp_nopush on; keepalive_requests 1000000;
    open_file_cache max=$((limit - 4096 - 256)) inactive=600s; open_file_cache_valid 600s;
    server {
        listen 127.0.0.1:$port;
        root $root;
        location / { default_type application/ocsp-response; }
    }
}
EOF
}

# population_rows NAME LABEL ROUNDS: nginx and ocspd (--threads $OCSPD_THREADS), uniform and Zipf,
# GET and POST, alternated, then one verified ocsp-load row each. Leaves ocspd running (OCSPD_PID,
# OCSPD) for the rows that follow.
#
# On this shared VM the rate of either server swings by ±15 % from one run to the next. To keep
# that noise out of the comparison, both servers run on the last core and the client on the
# first (taskset), and the rows alternate over several rounds: the summary takes the median.
POPULATION_LUA="$HERE/wrk/population.lua"
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    SERVER_CPU=(taskset -c "$(($(nproc) - 1))")
    CLIENT_CPU=(taskset -c 0)
else
    SERVER_CPU=()
    CLIENT_CPU=()
fi
# pop_wrk_row: wrk_row with the client on its own core.
pop_wrk_row() {
    WRK_PREFIX=("${CLIENT_CPU[@]}")
    wrk_row "$@"
    WRK_PREFIX=()
}
population_rows() {
    local name=$1 label=$2 rounds=$3 dir=$WORK/$1 nginx_port nginx_pid round
    nginx_port=$(free_port)
    nginx_population_conf "$name-nginx" "$nginx_port" "$WWW/$name"
    start "$name-nginx" "${SERVER_CPU[@]}" "$NGINX" -p "$WORK" -c "$WORK/$name-nginx.conf" -g 'daemon off;'
    nginx_pid=$LAST_PID
    OCSPD_PORT=$(free_port)
    # debug: the refresher logs what it re-signs (counted for the under-change rows).
    start "$name-ocspd" "${SERVER_CPU[@]}" "$BIN/ocspd" --store "$dir/store" --listen "127.0.0.1:$OCSPD_PORT" \
        --threads "$OCSPD_THREADS" --no-crl --log-level debug "${OCSPD_LOG_ARGS[@]}"
    OCSPD_PID=$LAST_PID
    OCSPD="http://127.0.0.1:$OCSPD_PORT/"
    wait_port "$nginx_port"
    wait_port "$OCSPD_PORT"
    local off_pid="" off_url=""
    if [ "$METRICS_OFF" = 1 ]; then
        # The same store and pinning, counting nothing (the rows that price the metrics).
        local off_port
        off_port=$(free_port)
        start "$name-ocspd-metrics-off" "${SERVER_CPU[@]}" "$BIN/ocspd" --store "$dir/store" \
            --listen "127.0.0.1:$off_port" --threads "$OCSPD_THREADS" --no-crl --no-metrics
        off_pid=$LAST_PID
        off_url="http://127.0.0.1:$off_port/"
        wait_port "$off_port"
    fi
    local nginx_url="http://127.0.0.1:$nginx_port/" requests="$dir/requests.txt"
    for round in $(seq "$rounds"); do
        say "$label, round $round of $rounds"
        GROUP="$label uniform #$round"
        pop_wrk_row "nginx, files" "GET uniform" ref "$nginx_url" -s "$POPULATION_LUA" -- "$requests" get uniform
        pop_wrk_row "ocspd" "GET uniform" - "$OCSPD" -s "$POPULATION_LUA" -- "$requests" get uniform
        [ -n "$off_pid" ] && pop_wrk_row "ocspd, metrics off" "GET uniform" - "$off_url" -s "$POPULATION_LUA" -- "$requests" get uniform
        pop_wrk_row "ocspd" "POST uniform" - "$OCSPD" -s "$POPULATION_LUA" -- "$requests" post uniform
        GROUP="$label Zipf s=1 #$round"
        pop_wrk_row "nginx, files" "GET Zipf" ref "$nginx_url" -s "$POPULATION_LUA" -- "$requests" get zipf 1.0
        pop_wrk_row "ocspd" "GET Zipf" - "$OCSPD" -s "$POPULATION_LUA" -- "$requests" get zipf 1.0
        [ -n "$off_pid" ] && pop_wrk_row "ocspd, metrics off" "GET Zipf" - "$off_url" -s "$POPULATION_LUA" -- "$requests" get zipf 1.0
        pop_wrk_row "ocspd" "POST Zipf" - "$OCSPD" -s "$POPULATION_LUA" -- "$requests" post zipf 1.0
    done
    [ -n "$off_pid" ] && stop "$off_pid"
    # ocsp-load checks a sample of ocspd's answers against the store (signature, status, CertID);
    # nginx through the same client gives that row its ratio.
    say "$label, ocsp-load (answers checked)"
    GROUP="$label uniform, ocsp-load"
    load_row "nginx, files" "GET uniform" ref "$nginx_url" --requests "$requests" --get-encoding url-safe \
        --order uniform --verify-sample 0
    load_row "ocspd" "GET uniform" - "$OCSPD" --requests "$requests" --store "$dir/store" --get-encoding url-safe \
        --order uniform --verify-sample 0.002
    stop "$nginx_pid"
}

# The refresher's work so far, from ocspd's debug log.
refreshed_count() {
    grep -o 'refreshed=[0-9]*' "$1" | cut -d= -f2 | awk '{ sum += $1 } END { print sum + 0 }'
}

if [ "$POPULATION" -gt 0 ]; then
    say "population: $POPULATION certificates of one issuer"
    # Responses valid long enough that none falls due for refresh during the quiet rows, then due
    # all together (presign spreads them over the second half of the time before refresh): the
    # refresher re-signs the whole population during the under-change rows.
    quiet_estimate=$((POPULATION_ROUNDS * 6 * (SECS + 4) + 2 * (SECS + 8) + 30))
    POPULATION_VALIDITY=$((4 * quiet_estimate))
    population_setup population "$POPULATION" "$POPULATION_VALIDITY"
    population_rows population "$((POPULATION / 1000))k" "$POPULATION_ROUNDS"

fi

if [ "$POPULATION" -gt 0 ] && [ "$REVOKE_RATE" -eq 0 ]; then
    stop "$OCSPD_PID"
elif [ "$POPULATION" -gt 0 ]; then
    wait_until=$((POPULATION_SIGNED + POPULATION_VALIDITY / 4 + 3))
    now=$(date +%s)
    if [ "$now" -lt "$wait_until" ]; then
        say "waiting $((wait_until - now)) s for the population to fall due for refresh"
        sleep $((wait_until - now))
    fi
    say "$((POPULATION / 1000))k under change: ocspctl revokes $REVOKE_RATE a second, the refresher re-signs"
    # Serials to revoke: good ones, in an order fixed by the population size.
    grep -v '^R' "$WORK/population/index.txt" | cut -f4 \
        | python3 -c 'import random, sys; s = sys.stdin.read().split(); random.Random(len(s)).shuffle(s); print("\n".join(s[:20000]))' \
        >"$WORK/revoke.txt"
    refreshed_before=$(refreshed_count "$WORK/population-ocspd.log")
    change_started=$(date +%s)
    start revoker "$BIN/ocspctl" revoke --store "$WORK/population/store" --issuer "$WORK/population/ec-root.pem" \
        --serials "$WORK/revoke.txt" --rate "$REVOKE_RATE" --reason keyCompromise
    REVOKER_PID=$LAST_PID
    GROUP="$((POPULATION / 1000))k under change"
    for round in $(seq "$ROUNDS"); do
        pop_wrk_row "ocspd" "GET uniform #$round" - "$OCSPD" -s "$POPULATION_LUA" -- "$WORK/population/requests.txt" get uniform
        pop_wrk_row "ocspd" "GET Zipf #$round" - "$OCSPD" -s "$POPULATION_LUA" -- "$WORK/population/requests.txt" get zipf 1.0
    done
    stop "$REVOKER_PID"
    change_seconds=$(($(date +%s) - change_started))
    # How many of the listed serials are revoked now: ocspctl's own answer for each, sampled.
    revoked=0
    for serial in $(head -n $((change_seconds * REVOKE_RATE + 200)) "$WORK/revoke.txt" | awk 'NR % 20 == 1'); do
        "$BIN/ocspctl" status --store "$WORK/population/store" --issuer "$WORK/population/ec-root.pem" --serial "$serial" \
            | grep -q revoked && revoked=$((revoked + 1))
    done
    refreshed=$(($(refreshed_count "$WORK/population-ocspd.log") - refreshed_before))
    CHANGE_NOTE="during these ${change_seconds} s: ocspctl revoke --rate $REVOKE_RATE revoked about $((revoked * 20)) certificates (one in 20 of the list checked), and the refresher re-signed $refreshed responses ($((refreshed / (change_seconds > 0 ? change_seconds : 1)))/s)"
    echo "$CHANGE_NOTE"
    stop "$OCSPD_PID"
fi

if [ "$LARGE" -gt 0 ]; then
    say "population: $LARGE certificates of one issuer (reported)"
    population_setup large "$LARGE" 86400
    population_rows large "$((LARGE / 1000))k" 3
    stop "$OCSPD_PID"
fi
