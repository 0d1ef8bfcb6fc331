"""Real TLS servers on loopback for the stapling tests: nginx and HAProxy started in a test's
tmp dir, `openssl s_client -status` to see what they staple, and HAProxy's runtime API.

What HAProxy 2.6 (Debian 2.6.12) does with staples, as observed on this machine (see
test_haproxy.py, which checks every point):

* The `crt` file holds the leaf certificate and its key; the issuer is either the next certificate
  in the same file or a `<crt>.issuer` file beside it.  `<crt>.ocsp` (DER) is loaded at start
  (`site.pem` -> `site.pem.ocsp`).  A `.ocsp` file with no findable issuer is a fatal config error.
* Only a certificate that had a `<crt>.ocsp` file at start (even an empty or stale one, which is
  ignored with a warning) can be updated at run time; for the others the runtime API answers
  "Certificate ID does not match any certificate or issuer."
* `set ssl ocsp-response <base64 DER>` on the admin stats socket replaces the staple without a
  reload: HAPROXY_OCSP_UPDATED on success, one line saying why otherwise (HAPROXY_REJECTS).
* Refused: a responseStatus other than successful, CertIDs hashed with anything but SHA-1 (they
  match no certificate), status unknown, no nextUpdate, thisUpdate more than 300 s ahead or
  nextUpdate more than 300 s past; the staple served before stays.  Not checked:
  the signature (an impostor's answer is accepted) and whether the new staple is newer.
* A staple is only sent while now < nextUpdate - 300 s: one that is accepted with less than five
  minutes left is silently not stapled.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Mapping

import pytest

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"

START_TIMEOUT = 10
STOP_TIMEOUT = 10
RUNTIME_TIMEOUT = 10

# HAProxy 2.6 runtime API replies to `set ssl ocsp-response` (without the trailing blank line).
HAPROXY_OCSP_UPDATED = "OCSP Response updated!"
HAPROXY_REJECTS = {
    "other certid": "OCSP single response: Certificate ID does not match any certificate or issuer.",
    "unknown": "OCSP single response: certificate status is unknown.",
    "no nextUpdate": "OCSP single response: missing nextupdate.",
    "out of time": "OCSP single response: no longer valid..",
    "not DER": "Unable to parse OCSP response.",
    "not successful": "OCSP response status not successful.",
    "no basic response": "Failed to get basic response from OCSP Response.",
    "not base64": "'set ssl ocsp-response' received invalid base64 encoded response.",
}
# HAProxy serves a staple only while now < nextUpdate - HAPROXY_OCSP_SKEW, and accepts one whose
# thisUpdate/nextUpdate are off by at most as much (OCSP_MAX_RESPONSE_TIME_SKEW).
HAPROXY_OCSP_SKEW = 300


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def s_client_status(port: int, ca_path: os.PathLike) -> str:
    """One handshake asking for a staple; openssl's whole output (stdout + stderr)."""
    try:
        proc = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-status",
                               "-servername", "localhost", "-CAfile", str(ca_path)],
                              input="", capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"openssl s_client to port {port} timed out: {e.stdout!r} {e.stderr!r}")
    return proc.stdout + proc.stderr


def poll_s_client(port: int, ca_path: os.PathLike, wanted: str, timeout: float = 15,
                  diagnostics=lambda: "") -> str:
    """Handshake until `wanted` is in s_client's output (servers that fetch lazily); the output."""
    deadline = time.monotonic() + timeout
    while wanted not in (text := s_client_status(port, ca_path)):
        if time.monotonic() >= deadline:
            pytest.fail(f"no {wanted!r} from port {port} within {timeout}s:\n{text}{diagnostics()}")
        time.sleep(0.3)
    return text


def wait_for_port(proc: subprocess.Popen, port: int, timeout: float = START_TIMEOUT,
                  diagnostics=lambda: "") -> None:
    """Until 127.0.0.1:port accepts a connection; fails if `proc` exits first or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            pass
        if proc.poll() is not None:
            pytest.fail(f"{proc.args[0]} exited with {proc.returncode} before listening on {port}"
                        + diagnostics())
        if time.monotonic() >= deadline:
            pytest.fail(f"{proc.args[0]} not listening on {port} after {timeout}s" + diagnostics())
        time.sleep(0.1)


def _terminate(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


# --------------------------------------------------------------------------
# nginx
# --------------------------------------------------------------------------

class Nginx:
    """nginx in the foreground with one `server { listen 127.0.0.1:PORT ssl; BODY }` per entry of
    `servers` (port -> body).  `with Nginx(...) as n:` starts it and always stops it."""

    def __init__(self, workdir: Path, servers: Mapping[int, str], http_extra: str = "",
                 log_level: str = "info"):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "tmp").mkdir(exist_ok=True)
        self.ports = list(servers)
        self.conf = self.dir / "nginx.conf"
        self.log = self.dir / "nginx-error.log"
        blocks = "".join(f"""
    server {{
        listen 127.0.0.1:{port} ssl;
        {body}
        location / {{ return 200 "ok"; }}
    }}""" for port, body in servers.items())
        self.conf.write_text(f"""
worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {self.log} {log_level};
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {self.dir}/tmp;
    {http_extra}{blocks}
}}
""")
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Nginx":
        self.proc = subprocess.Popen([NGINX, "-p", str(self.dir), "-c", str(self.conf), "-e", str(self.log),
                                      "-g", "daemon off;"], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            for port in self.ports:
                wait_for_port(self.proc, port, diagnostics=self.diagnostics)
        except BaseException:
            self.stop()
            raise
        return self

    def error_log(self) -> str:
        return _read(self.log)

    def diagnostics(self) -> str:
        return f"\n--- {self.conf} ---\n{_read(self.conf)}\n--- nginx error log ---\n{self.error_log()}"

    def reload(self, timeout: float = START_TIMEOUT) -> None:
        """SIGHUP, then wait until the master has started a worker with the new configuration."""
        assert self.proc is not None and self.proc.poll() is None, "nginx is not running" + self.diagnostics()
        before = self.error_log().count("start worker process")
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while self.error_log().count("start worker process") <= before:
            if self.proc.poll() is not None or time.monotonic() >= deadline:
                pytest.fail(f"nginx did not start a new worker within {timeout}s of SIGHUP" + self.diagnostics())
            time.sleep(0.1)

    def stop(self) -> None:
        _terminate(self.proc)

    def __enter__(self) -> "Nginx":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# --------------------------------------------------------------------------
# HAProxy
# --------------------------------------------------------------------------

def haproxy_runtime(socket_path: os.PathLike, command: str, timeout: float = RUNTIME_TIMEOUT) -> str:
    """One command on HAProxy's stats socket (non-interactive: it answers, then closes)."""
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(socket_path))
        s.sendall(command.encode("ascii") + b"\n")
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
            if time.monotonic() >= deadline:
                raise TimeoutError(f"HAProxy still answering {command.split()[:4]} after {timeout}s")
    return b"".join(chunks).decode(errors="replace")


def haproxy_set_ocsp_response(socket_path: os.PathLike, der: bytes) -> str:
    """Replace a certificate's staple at run time (HAProxy finds the certificate by the CertID);
    the reply without its trailing blank line, HAPROXY_OCSP_UPDATED on success."""
    reply = haproxy_runtime(socket_path, "set ssl ocsp-response " + base64.b64encode(der).decode("ascii"))
    return reply.strip()


def haproxy_crt(path: Path, leaf: Path, key: Path, issuer: Path | None) -> Path:
    """The `crt` file HAProxy wants: leaf, key, then (optional here) the issuer for the CertID."""
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = [leaf.read_bytes(), key.read_bytes()] + ([issuer.read_bytes()] if issuer is not None else [])
    path.write_bytes(b"".join(p if p.endswith(b"\n") else p + b"\n" for p in parts))
    return path


class HAProxy:
    """HAProxy 2.6 in the foreground (-db): a TLS frontend on 127.0.0.1:port with `crt` answering
    HTTP 200, and an admin stats socket for runtime(). `with HAProxy(...) as h:` starts and stops it."""

    def __init__(self, workdir: Path, crt: Path, port: int | None = None):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.crt = Path(crt)
        self.port = port or free_port()
        # sun_path is 108 bytes and pytest's tmp paths can be longer: the socket gets a short dir.
        self._sock_dir = Path(tempfile.mkdtemp(prefix="haproxy-"))
        self.socket_path = self._sock_dir / "admin.sock"
        self.conf = self.dir / "haproxy.cfg"
        self.log = self.dir / "haproxy.log"
        self.conf.write_text(f"""
global
    stats socket {self.socket_path} level admin
    stats timeout 10s
    nbthread 2

defaults
    mode http
    timeout connect 5s
    timeout client 10s
    timeout server 10s

frontend tls
    bind 127.0.0.1:{self.port} ssl crt {self.crt}
    http-request return status 200 content-type text/plain string ok
""")
        self.proc: subprocess.Popen | None = None
        self._log_file = None

    def start(self, timeout: float = START_TIMEOUT) -> "HAProxy":
        self._sock_dir.mkdir(exist_ok=True)
        self._log_file = open(self.log, "wb")
        self.proc = subprocess.Popen([HAPROXY, "-db", "-f", str(self.conf)], stdin=subprocess.DEVNULL,
                                     stdout=self._log_file, stderr=subprocess.STDOUT)
        try:
            wait_for_port(self.proc, self.port, timeout, diagnostics=self.diagnostics)
            deadline = time.monotonic() + timeout
            while not self.socket_path.is_socket():
                if time.monotonic() >= deadline:
                    pytest.fail(f"no stats socket {self.socket_path} after {timeout}s" + self.diagnostics())
                time.sleep(0.1)
        except BaseException:
            self.stop()
            raise
        return self

    def run_to_exit(self, timeout: float = START_TIMEOUT) -> int:
        """Start it expecting it to refuse its configuration: the exit status."""
        self._sock_dir.mkdir(exist_ok=True)
        self._log_file = open(self.log, "wb")
        self.proc = subprocess.Popen([HAPROXY, "-db", "-f", str(self.conf)], stdin=subprocess.DEVNULL,
                                     stdout=self._log_file, stderr=subprocess.STDOUT)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"haproxy still running after {timeout}s, expected it to exit" + self.diagnostics())
        finally:
            self.stop()

    def runtime(self, command: str) -> str:
        return haproxy_runtime(self.socket_path, command)

    def set_ocsp_response(self, der: bytes) -> str:
        return haproxy_set_ocsp_response(self.socket_path, der)

    def output(self) -> str:
        """What HAProxy printed (its NOTICE / WARNING / ALERT lines)."""
        return _read(self.log)

    def diagnostics(self) -> str:
        return f"\n--- {self.conf} ---\n{_read(self.conf)}\n--- haproxy output ---\n{self.output()}"

    def stop(self) -> None:
        try:
            _terminate(self.proc)
        finally:
            if self._log_file is not None and not self._log_file.closed:
                self._log_file.close()
            shutil.rmtree(self._sock_dir, ignore_errors=True)

    def __enter__(self) -> "HAProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
