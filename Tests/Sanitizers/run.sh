#!/usr/bin/env bash
# Builds everything with a sanitizer and runs the unit and end-to-end suites on those binaries.
#
#   Tests/Sanitizers/run.sh                  # address, then thread
#   Tests/Sanitizers/run.sh address          # AddressSanitizer only (also checks leaks at exit)
#   Tests/Sanitizers/run.sh thread -k hostile  # ThreadSanitizer; arguments after it go to pytest
#
# Each sanitizer builds in its own scratch directory (.build-asan, .build-tsan: a first build takes
# several minutes), with the Swift code and the C shims instrumented; OpenSSL, LMDB and
# libmicrohttpd are the system's, uninstrumented. The end-to-end suite runs against the sanitized
# ocspd, ocspctl and ocsp-load; a report from a sanitizer in any of them fails its test (the
# process exits non-zero, or its stderr holds the report, which the script also searches).
# Suppressions for reports inside uninstrumented libraries are in Tests/Sanitizers/*.supp.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
export PATH="/opt/swift/usr/bin:$PATH"
cd "$REPO"

SANITIZERS=()
while [ $# -gt 0 ]; do
    case "$1" in
        address|thread) SANITIZERS+=("$1"); shift ;;
        -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) break ;;
    esac
done
[ ${#SANITIZERS[@]} -gt 0 ] || SANITIZERS=(address thread)
PYTEST_ARGS=("$@")

LOGS=$(mktemp -d /tmp/ocsp-sanitizers.XXXXXX)
failed=0
for sanitizer in "${SANITIZERS[@]}"; do
    case "$sanitizer" in
        address)
            scratch=.build-asan
            # Leaks are checked at exit; OpenSSL's and Foundation's process-lifetime allocations are suppressed.
            export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=86:log_path=$LOGS/asan"
            export LSAN_OPTIONS="suppressions=$HERE/lsan.supp:print_suppressions=0"
            ;;
        thread)
            scratch=.build-tsan
            export TSAN_OPTIONS="exitcode=86:log_path=$LOGS/tsan:suppressions=$HERE/tsan.supp:report_signal_unsafe=0"
            ;;
    esac
    echo "== $sanitizer: building into $scratch"
    build=(swift build --build-tests --scratch-path "$scratch" -Xswiftc -sanitize="$sanitizer" -Xcc -fsanitize="$sanitizer")
    if ! "${build[@]}" >"$LOGS/build-$sanitizer.log" 2>&1; then
        grep -m20 "error:" "$LOGS/build-$sanitizer.log"
        echo "   the $sanitizer build failed: ${build[*]} (log: $LOGS/build-$sanitizer.log)"
        failed=1
        continue
    fi
    bin=$(swift build --scratch-path "$scratch" --show-bin-path)

    echo "== $sanitizer: unit tests"
    swift test --skip-build --scratch-path "$scratch" >"$LOGS/unit-$sanitizer.log" 2>&1
    status=$?
    grep -E "Test run with|error:|failed" "$LOGS/unit-$sanitizer.log" | tail -5
    [ $status = 0 ] || failed=1

    echo "== $sanitizer: end-to-end tests"
    OCSP_SANITIZER=$sanitizer OCSPD_BIN=$bin/ocspd OCSPCTL_BIN=$bin/ocspctl OCSP_LOAD_BIN=$bin/ocsp-load \
        python3 -m pytest Tests/EndToEnd -q -p no:cacheprovider "${PYTEST_ARGS[@]}" 2>&1 | tail -15
    [ "${PIPESTATUS[0]}" = 0 ] || failed=1

    reports=$(ls "$LOGS" 2>/dev/null | grep -c "^${sanitizer:0:1}san" || true)
    if [ "$reports" != 0 ]; then
        echo "   $reports $sanitizer report(s): $LOGS"
        grep -h -m1 -A12 "^==.*ERROR\|^WARNING: ThreadSanitizer" "$LOGS"/${sanitizer:0:1}san* | head -60
        failed=1
    else
        echo "   no $sanitizer reports"
    fi
done
[ $failed = 0 ] && rm -rf "$LOGS"
exit $failed
