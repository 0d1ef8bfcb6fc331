"""ocspd start-up line, default validity, SIGTERM."""

from __future__ import annotations

import signal
import subprocess

from cryptography.hazmat.primitives import hashes

from ocsp_e2e import (
    DEFAULT_VALIDITY, READY_RE, STOP_TIMEOUT, build_request, check_single, parse_ok_response,
    post_ocsp, start_ocspd,
)


def test_ready_line(server):
    m = READY_RE.match(server.ready_line)
    assert m, server.ready_line
    assert 0 < server.port < 65536
    assert server.ready_line == f"ocspd listening on http://127.0.0.1:{server.port}/"


def test_default_validity_and_sigterm(bins, pki, store, log_dir):
    d = start_ocspd(bins, store, log_dir)  # no --validity
    try:
        for leaf in ("ec-good", "rsa-revoked"):
            der = build_request(pki.cert(leaf), pki.cert(pki.issuer_of(leaf)), hashes.SHA256())
            check_single(parse_ok_response(post_ocsp(d.port, der)), pki, leaf, hashes.SHA256(),
                         validity=DEFAULT_VALIDITY)
        assert d.proc.poll() is None, "ocspd exited on its own" + d.diagnostics()
        d.proc.send_signal(signal.SIGTERM)
        try:
            d.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"ocspd still running {STOP_TIMEOUT}s after SIGTERM" + d.diagnostics())
    finally:
        d.stop()

