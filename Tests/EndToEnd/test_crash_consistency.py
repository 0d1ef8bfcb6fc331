"""A short run of the crash-consistency script (issue 18): 100 SIGKILLs of ocspctl (revoke, revoke
--serials, import, presign, crl generate) and of ocspd under load, then every acknowledged
revocation checked in the store and in a restarted ocspd's answers, CRL numbers checked with openssl.
The full run is `Tests/Crash/crash_consistency.py --bin .build/debug` (300 kills, or --kills N)."""

from __future__ import annotations

import re
import subprocess
import sys

from ocsp_e2e import REPO_ROOT


def test_sigkill_loses_nothing(bins):
    script = REPO_ROOT / "Tests" / "Crash" / "crash_consistency.py"
    proc = subprocess.run([sys.executable, str(script), "--bin", str(bins.ocspd.parent), "--kills", "100"],
                          capture_output=True, text=True, timeout=600)
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    counts = re.search(r": (\d+) kills, (\d+) acknowledged revocations checked, (\d+) CRLs .* (\d+) failures", summary)
    assert counts, summary
    kills, acknowledged, crls, failures = map(int, counts.groups())
    # Each phase stops after its share of kills or a bounded number of attempts.
    assert kills >= 80 and acknowledged > 0 and crls > 0 and failures == 0, summary
