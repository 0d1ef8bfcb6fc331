"""The HTTP cache tier (issue 25): nginx `proxy_cache` from `Config/nginx/ocsp-cache.conf` (the
file itself, addresses and paths replaced) in front of two ocspd followers of a PostgreSQL system
of record. nginx caches GET answers by ocspd's RFC 5019 headers; after a revocation the followers
refresh the certificate's GET paths through the configuration's refresh listener, so the cache
answers `revoked` at once. A third follower runs the command form of the hook."""
from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from ocsp_e2e import REPO_ROOT, Ocspd, ctl_ok, load_cert, serial_hex
from test_replication import ctl_db, postgres, start_follower, wait_for, wait_ready  # noqa: F401 (postgres: the fixture)
from tls_servers import NGINX, free_port, wait_for_port

EXAMPLE = REPO_ROOT / "Config" / "nginx" / "ocsp-cache.conf"


class CacheTier:
    """nginx running the example configuration against `upstreams`."""

    def __init__(self, upstreams: list[int], purge_port: int):
        # The worker (www-data when started as root) writes the cache: a directory it may enter.
        self.dir = Path(tempfile.mkdtemp(prefix="ocsp-cache-"))
        os.chmod(self.dir, 0o777)
        self.port, self.purge_port = free_port(), purge_port
        text = EXAMPLE.read_text()
        text = text.replace("/var/cache/nginx/ocsp", str(self.dir / "cache"))
        servers = "".join(f"server 127.0.0.1:{port};\n        " for port in upstreams)
        text = re.sub(r"(server 10\.0\.0\.\d+:8080;\s*)+", servers, text)
        text = text.replace("listen 80;", f"listen 127.0.0.1:{self.port};")
        text = text.replace("listen 127.0.0.1:8081;", f"listen 127.0.0.1:{self.purge_port};")
        text = text.replace("worker_processes auto;", f"worker_processes 1;\npid {self.dir}/nginx.pid;")
        text = text.replace("worker_connections 4096;", "worker_connections 256;")
        self.conf = self.dir / "nginx.conf"
        self.conf.write_text(text)
        self.log = self.dir / "error.log"
        self.proc = subprocess.Popen([NGINX, "-p", str(self.dir), "-c", str(self.conf), "-e", str(self.log), "-g", "daemon off;"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_for_port(self.proc, self.port, diagnostics=self.diagnostics)
        wait_for_port(self.proc, self.purge_port, diagnostics=self.diagnostics)

    def diagnostics(self) -> str:
        log = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"\n--- nginx error log ---\n{log[-3000:]}"

    def get(self, path: str) -> tuple[ocsp.OCSPCertStatus, str]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as response:
            answer = ocsp.load_der_ocsp_response(response.read())
            return answer.certificate_status, response.headers.get("X-Cache-Status", "")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


def get_path(leaf, issuer) -> str:
    """The GET path nginx's stapling, like OpenSSL-based clients, sends: SHA-1 CertID, no nonce,
    the base64 percent-encoded."""
    request = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hashes.SHA1()).build()
    der = request.public_bytes(serialization.Encoding.DER)
    return "/" + urllib.parse.quote(base64.b64encode(der).decode(), safe="")


def test_the_cache_serves_gets_and_a_revocation_purges_them(bins, postgres, tmp_path, log_dir):
    demo = tmp_path / "demo"
    ctl_ok(bins, "demo", "--dir", demo, "--url", "http://127.0.0.1:9/")
    admin = tmp_path / "admin"
    ctl_db(bins, postgres, admin, "init")
    ctl_db(bins, postgres, admin, "issuer", "add", "--cert", demo / "rsa-ca.pem", "--key", demo / "rsa-ca.key")
    for name in ("leaf-rsa-01", "leaf-rsa-02"):
        ctl_db(bins, postgres, admin, "cert", "add", "--cert", demo / "leaves" / f"{name}.pem")
    issuer = load_cert(demo / "rsa-ca.pem")

    ports, purge_port = [free_port(), free_port()], free_port()
    purged = tmp_path / "purged.txt"
    followers: list[Ocspd] = []
    cache = None
    try:
        followers = [
            Ocspd(bins, tmp_path / f"follower-{n}", log_dir, port=port,
                  extra=["--follow", postgres.url, "--follow-purge-url", f"http://127.0.0.1:{purge_port}{{path}}"])
            for n, port in enumerate(ports)
        ]
        for follower in followers:
            follower.wait_ready()
        followers.append(start_follower(
            bins, postgres, tmp_path / "follower-command", log_dir,
            "--follow-purge-command", f'printf "%s %s\\n" "$OCSP_SERIAL" "$(echo "$OCSP_PURGE_PATHS" | wc -l)" >> {purged}'))
        for follower in followers:
            wait_ready(follower)
        cache = CacheTier(ports, purge_port)
    except BaseException:
        for follower in followers:
            follower.stop()
        raise
    try:
        leaf = load_cert(demo / "leaves" / "leaf-rsa-01.pem")
        path = get_path(leaf, issuer)
        # (MISS, or HIT already: a follower's catch-up at start refreshes what it applied.)
        assert cache.get(path)[0] == ocsp.OCSPCertStatus.GOOD
        assert cache.get(path) == (ocsp.OCSPCertStatus.GOOD, "HIT")
        # The same request escaped differently is the same entry.
        assert cache.get(urllib.parse.unquote(path).replace("/", "%2F").replace("%2F", "/", 1)) == (ocsp.OCSPCertStatus.GOOD, "HIT")

        ctl_db(bins, postgres, admin, "revoke", "--cert", demo / "leaves" / "leaf-rsa-01.pem", "--reason", "keyCompromise")
        acknowledged = time.monotonic()
        seconds = wait_for(lambda: cache.get(path)[0] == ocsp.OCSPCertStatus.REVOKED, 5, "revoked through the cache",
                           cache.diagnostics)
        assert seconds < 1.5, seconds
        assert cache.get(path) == (ocsp.OCSPCertStatus.REVOKED, "HIT")
        assert time.monotonic() - acknowledged < 5
        # The other leaf's cached answer was left alone.
        other = get_path(load_cert(demo / "leaves" / "leaf-rsa-02.pem"), issuer)
        assert cache.get(other)[0] == ocsp.OCSPCertStatus.GOOD
        # The command form ran for the revoked certificate (after those its catch-up at start
        # applied), with its four paths.
        line = f"{serial_hex(leaf)} 4"
        wait_for(lambda: purged.exists() and purged.read_text().splitlines()[-1:] == [line], 5, "the purge command")
    finally:
        cache.stop()
        for follower in followers:
            follower.stop()

