"""ocspd start-up line, default validity, SIGTERM."""

from __future__ import annotations

import http.client
import signal
import subprocess

from cryptography.hazmat.primitives import hashes

from ocsp_e2e import (
    DEFAULT_VALIDITY, READY_RE, STOP_TIMEOUT, Ocspd, build_request, check_single, parse_ok_response,
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



def test_port_in_use_fails_cleanly(bins, pki, store, log_dir):
    """A second ocspd on a port another one serves exits with a one-line error (not a crash, and
    not silently sharing the port through SO_REUSEPORT); the first keeps answering."""
    first = Ocspd(bins, store, log_dir, extra=["--threads", "2"])
    try:
        first.wait_ready()
        for threads in ("1", "2"):
            proc = subprocess.run(
                [str(bins.ocspd), "--store", str(store), "--listen", f"127.0.0.1:{first.port}", "--threads", threads],
                capture_output=True, text=True, timeout=STOP_TIMEOUT * 3)
            assert proc.returncode == 1, f"--threads {threads}: exit {proc.returncode}\n{proc.stderr}"
            assert "in use" in proc.stderr and "crashed" not in proc.stderr, proc.stderr
            assert "listening" not in proc.stdout, proc.stdout
        der = build_request(pki.cert("ec-good"), pki.cert("ec-root"))
        check_single(parse_ok_response(post_ocsp(first.port, der)), pki, "ec-good", hashes.SHA1(),
                     validity=DEFAULT_VALIDITY)
    finally:
        first.stop()


def test_several_threads_answer_many_connections(bins, pki, store, log_dir):
    """--threads 4: four listening sockets on one port; 32 keep-alive connections, each asking
    three times, all answered correctly."""
    d = Ocspd(bins, store, log_dir, extra=["--threads", "4"])
    try:
        d.wait_ready()
        der = build_request(pki.cert("rsa-revoked"), pki.cert("rsa-ca"))
        connections = [http.client.HTTPConnection("127.0.0.1", d.port, timeout=10) for _ in range(32)]
        try:
            for _ in range(3):
                for conn in connections:
                    check_single(parse_ok_response(post_ocsp(d.port, der, conn=conn)), pki, "rsa-revoked",
                                 hashes.SHA1(), validity=DEFAULT_VALIDITY)
        finally:
            for conn in connections:
                conn.close()
    finally:
        d.stop()


def test_restart_on_the_same_port(bins, pki, store, log_dir):
    """Stopping ocspd leaves its closed connections in TIME_WAIT on the server's port; a restart
    on that port (what `systemctl restart` does) must still bind, with one thread or several."""
    der = build_request(pki.cert("ec-good"), pki.cert("ec-root"))
    first = Ocspd(bins, store, log_dir, extra=["--threads", "2"])
    try:
        first.wait_ready()
        port = first.port
        conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(4)]
        for conn in conns:
            parse_ok_response(post_ocsp(port, der, conn=conn))
    finally:
        first.stop()
    for threads in ("2", "1"):
        again = Ocspd(bins, store, log_dir, extra=["--threads", threads, "--listen", f"127.0.0.1:{port}"])
        try:
            assert again.wait_ready() == port
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            parse_ok_response(post_ocsp(port, der, conn=conn))
            conn.close()
        finally:
            again.stop()
