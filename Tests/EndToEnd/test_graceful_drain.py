"""SIGTERM drains ocspd without resetting anyone (issue 32, item 5).

From the signal on, new connections are refused (the listening sockets are closed, not left in the
kernel to queue connections nobody accepts), every answer carries `Connection: close` and its
connection closes after it, idle keep-alive connections end with a FIN, and ocspd exits 0. Under
keep-alive load the client sees no error but refused connects.

Binaries: $OCSPD_BIN, $OCSPCTL_BIN, $OCSP_LOAD_BIN (default <repo>/.build/debug/<name>).
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import time

from cryptography.x509 import ocsp

from ocsp_e2e import Ocspd, b64, build_request, http_request, load_cert
from test_load import load_bin  # noqa: F401  (the ocsp-load binary fixture, shared)

# Generous for a loaded two-core machine: each is an upper bound, never a sleep.
EXIT_TIMEOUT = 15
LOAD_TIMEOUT = 40




def open_connections(port: int) -> int:
    """ocspd's `ocsp_open_connections` gauge (the connection asking counts too)."""
    res = http_request(port, "GET", "/metrics")
    m = re.search(rb"^ocsp_open_connections (\d+)", res.body, re.MULTILINE)
    assert res.status == 200 and m, f"/metrics has no ocsp_open_connections: {res}"
    return int(m.group(1))


def wait_for_open_connections(port: int, count: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while (seen := open_connections(port)) < count:
        assert time.monotonic() < deadline, f"only {seen} connections open after {timeout} s, waited for {count}"
        time.sleep(0.05)


# --------------------------------------------------------------------------------------------
# raw HTTP/1.1 on a socket: what the server sends, and how the connection ends, exactly
# --------------------------------------------------------------------------------------------

def connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=EXIT_TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def get(s: socket.socket, path: str) -> None:
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())


def read_response(s: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response (status, lower-cased headers, body); the body is Content-Length long."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        assert chunk, f"the connection ended before a whole response head: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = s.recv(65536)
        assert chunk, "the connection ended inside a response body"
        body += chunk
    assert len(body) == length, f"{len(body) - length} bytes after the response, none asked for"
    return status, headers, body


def how_it_ends(s: socket.socket) -> str:
    """"FIN" when the server closed the connection cleanly (recv returns b""), else what happened."""
    try:
        data = s.recv(1)
    except ConnectionResetError:
        return "RST (ConnectionResetError)"
    except socket.timeout:
        return "still open"
    return "FIN" if data == b"" else f"more data: {data!r}"


def check_ocsp_answer(status: int, headers: dict[str, str], body: bytes, *, closes: bool) -> None:
    assert status == 200, f"HTTP {status} {headers}"
    assert ocsp.load_der_ocsp_response(body).response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    said = headers.get("connection", "").lower()
    if closes:
        assert said == "close", f"an answer during the drain must carry Connection: close: {headers}"
    else:
        assert said != "close", f"before SIGTERM the connection is kept alive: {headers}"


# --------------------------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------------------------

def test_sigterm_under_keep_alive_load_gives_no_client_error_but_refused_connects(
        bins, load_bin, demo, log_dir, tmp_path):
    """ocsp-load on four keep-alive connections; SIGTERM mid-run. Each connection gets its answer
    with `Connection: close`, and its reconnects are refused: no reset, no unanswered request."""
    server = Ocspd(bins, demo / "store", log_dir, extra=["--threads", "2", "--shutdown-timeout", "5s"])
    port = server.wait_ready()
    out = tmp_path / "drain.json"
    load = subprocess.Popen(
        [str(load_bin), "--url", server.url, "--store", str(demo / "store"), "--connections", "4",
         "--threads", "1", "--duration", "6s", "--timeout", "3s", "--verify-sample", "0", "--json", str(out)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_open_connections(port, 5)   # the load's four, and the one asking
        time.sleep(0.5)
        server.proc.send_signal(signal.SIGTERM)
        try:
            code = server.proc.wait(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"ocspd still running {EXIT_TIMEOUT} s after SIGTERM" + server.diagnostics())
        stdout, stderr = load.communicate(timeout=LOAD_TIMEOUT)
    finally:
        if load.poll() is None:
            load.kill()
            load.wait()
        server.stop()
    where = f"\n--- ocsp-load stdout ---\n{stdout}--- ocsp-load stderr ---\n{stderr}"
    assert out.is_file(), "ocsp-load wrote no JSON report" + where
    report = json.loads(out.read_text())
    others = {kind: n for kind, n in report["errors"].items() if kind != "connect-refused"}
    assert others == {}, f"errors other than refused connects: {others} {report['errorMessages']}" + where
    assert report["requests"] > 100 and report["successes"] == report["requests"], where
    # The reconnects after the drain began met a closed listener (refused at once), not a kernel
    # backlog nobody accepts from (reset when ocspd exits).
    assert report["errors"].get("connect-refused", 0) > 0, "no reconnect was refused: did SIGTERM land mid-run?" + where
    assert code == 0, f"ocspd exited {code}" + server.diagnostics()
    assert '"message":"stopped"' in server.stderr_text(), server.diagnostics()


def test_drain_refuses_new_connects_answers_with_close_and_ends_idle_connections_with_a_fin(bins, demo, log_dir):
    """On raw sockets. Two keep-alive connections are answered once before SIGTERM; a POST whose
    body is still coming holds the drain open. During the drain a new connect is refused at once
    (before the fix the kernel completed it into the backlog of a listener nobody accepted from, and
    reset it when ocspd exited); a request on one keep-alive connection is answered with
    `Connection: close`, then FIN; so is the POST once its body is in; the other, idle, connection
    gets a FIN (recv returns b""), never a reset; ocspd exits 0."""
    server = Ocspd(bins, demo / "store", log_dir, extra=["--threads", "2", "--shutdown-timeout", "5s"])
    port = server.wait_ready()
    path = "/" + b64(build_request(load_cert(demo / "leaves" / "leaf-ec-02.pem"), load_cert(demo / "ec-root.pem")))
    der = build_request(load_cert(demo / "leaves" / "leaf-ec-01.pem"), load_cert(demo / "ec-root.pem"))
    idle, again, slow = connect(port), connect(port), connect(port)
    late: socket.socket | None = None
    try:
        for s in (idle, again):
            get(s, path)
            check_ocsp_answer(*read_response(s), closes=False)
        slow.sendall(f"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/ocsp-request\r\n"
                     f"Content-Length: {len(der)}\r\n\r\n".encode() + der[:10])
        time.sleep(0.3)   # the head is in: a request in flight
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert server.proc.poll() is None, "ocspd exited with a request in flight" + server.diagnostics()

        try:
            late = socket.create_connection(("127.0.0.1", port), timeout=EXIT_TIMEOUT)
        except ConnectionRefusedError:
            pass
        else:
            get(late, "/healthz")
            late.settimeout(0.5)
            outcome = how_it_ends(late)
            slow.sendall(der[10:])   # let the drain end, to see what becomes of the late connection
            late.settimeout(EXIT_TIMEOUT)
            if outcome == "still open":
                outcome = how_it_ends(late)
            raise AssertionError(f"a connect during the drain was accepted (the listener is still open); "
                                 f"its request then saw: {outcome}")

        get(again, path)
        check_ocsp_answer(*read_response(again), closes=True)
        assert how_it_ends(again) == "FIN"
        slow.sendall(der[10:])
        check_ocsp_answer(*read_response(slow), closes=True)
        assert how_it_ends(slow) == "FIN"
        assert how_it_ends(idle) == "FIN"
        assert server.proc.wait(timeout=EXIT_TIMEOUT) == 0, server.diagnostics()
    finally:
        for s in (idle, again, slow, late):
            if s is not None:
                s.close()
        server.stop()
