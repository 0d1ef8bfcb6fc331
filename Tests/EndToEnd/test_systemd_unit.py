"""The hardened systemd unit in Config/ (issue 18): it verifies, and its exposure stays low."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from ocsp_e2e import REPO_ROOT


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_unit_verifies_and_is_hardened(bins, tmp_path):
    unit = (REPO_ROOT / "Config" / "ocspd.service").read_text()
    for setting in ["LimitNOFILE=65536", "NoNewPrivileges=yes", "ProtectSystem=strict", "ReadWritePaths=/var/lib/ocsp",
                    "PrivateTmp=yes", "CapabilityBoundingSet=\n", "User=ocsp"]:
        assert setting in unit, f"the unit lacks {setting!r}"
    # Point it at the binary under test, which verify checks for.
    path = tmp_path / "ocspd.service"
    path.write_text(unit.replace("/usr/local/bin/ocspd", str(bins.ocspd)))
    verify = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    security = subprocess.run(["systemd-analyze", "security", "--offline=true", str(path)],
                              capture_output=True, text=True, timeout=60)
    score = re.search(r"Overall exposure level for \S+: ([\d.]+)", security.stdout)
    assert score, security.stdout + security.stderr
    assert float(score.group(1)) <= 2.0, security.stdout
