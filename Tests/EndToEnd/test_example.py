"""Examples/RevocationClient: the consumer package's revocation-client against a live demo.

Building the example package takes minutes (it compiles the libraries again, in its own
.build), so this test does not build it: `make test` has built it by the time pytest runs; run
alone, the test is skipped until `cd Examples/RevocationClient && swift build` has been run."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from ocsp_e2e import Ocspd, ctl_ok

EXAMPLE = Path(__file__).resolve().parents[2] / "Examples" / "RevocationClient"
CLIENT = EXAMPLE / ".build" / "debug" / "revocation-client"

pytestmark = pytest.mark.skipif(
    not CLIENT.is_file(), reason="Examples/RevocationClient is not built (make test builds it)")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def demo(bins, tmp_path_factory, log_dir):
    """A demo PKI whose leaves' AIA names the port its ocspd listens on."""
    port = _free_port()
    d = tmp_path_factory.mktemp("example") / "demo"
    ctl_ok(bins, "demo", "--dir", d, "--url", f"http://127.0.0.1:{port}/")
    server = Ocspd(bins, d / "store", log_dir, port=port)
    server.wait_ready()
    try:
        yield d
    finally:
        server.stop()


@pytest.mark.parametrize("leaf,issuer,code,decision,staple", [
    ("leaf-ec-01", "ec-root", 0, "ACCEPT: staple says good", "good"),
    ("leaf-ec-02", "ec-root", 1, "REJECT: staple says revoked", "revoked"),
    ("leaf-rsa-01", "rsa-ca", 0, "ACCEPT: staple says good", "good"),
])
def test_example_against_demo(demo, leaf, issuer, code, decision, staple):
    proc = subprocess.run(
        [CLIENT, demo / "leaves" / f"{leaf}.pem", demo / f"{issuer}.pem", EXAMPLE / "policy.yaml"],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert f"staple:      {staple} from http://127.0.0.1:" in proc.stdout, proc.stdout
    assert f"decision:    {decision}" in proc.stdout, proc.stdout


def test_example_usage():
    proc = subprocess.run([CLIENT], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "usage: revocation-client" in proc.stderr
