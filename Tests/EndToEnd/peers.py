"""Peers for the interop matrix (test_interop_matrix.py): OCSP responders we did not write
(`openssl ocsp`, CFSSL `cfssl ocspserve`), the small PKIs they answer for, a network namespace
of the test's own, and what tls_servers.py lacks on the client side (`curl --cert-status`, one
HAProxy with several frontends).

What these peers do, as observed on this machine (Debian 12):

* `openssl ocsp` 3.0 as a responder takes `-port N` only and listens on [::]:N, every address:
  it runs in a network namespace made for it (`Netns`).  It serves one connection at a time and
  a connection that sends nothing hangs it for good (even with `-timeout`), so readiness is probed
  with a real OCSP request, never a bare connect.  It answers GET and POST, echoes the request's
  CertID, and puts the signer's certificate in every response.
* Debian's CFSSL 1.2.0 `cfssl ocspserve` answers every GET with HTTP 400: it base64-decodes
  the URL path with its leading '/' (and '+' read as a space), logging "Error decoding base64 from
  URL: /MEIw...".  POST works.  A GET whose base64 holds "//" (about 3 % of leaves) first gets a
  301 from Go's ServeMux to the path with one '/' fewer, then a 400 logged as "Error decoding
  request body" (ocsp-stapler and ocspctl check, in `auto`, still end with a POST that works).  `cfssl ocspsign` truncates thisUpdate to the hour (producedAt to
  the minute) and sets nextUpdate = thisUpdate + -interval, so a 1 h interval can leave HAProxy
  (which wants more than 300 s) nothing to staple: 24 h is used.  Its responses carry the
  delegated responder's certificate and a SHA-1 CertID.
* curl 7.88 `--cert-status` verifies the staple with OCSP_basic_verify (the signer looked for
  in the response's certificates and the served chain, not in --cacert), then computes the CertID
  from an issuer it finds in the served chain only: when the server sends the leaf alone, it
  fails with "Error computing OCSP ID" whatever the staple says.  A revoked staple fails with
  "SSL certificate revocation reason: keyCompromise (1)", exit 91 (the correct reading).
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest
from cryptography.x509 import ocsp

from ocsp_e2e import (
    CA_CNF, OPENSSL_CNF, STOP_TIMEOUT, build_request, load_cert, openssl_ok, post_ocsp, run, run_ok,
    serial_hex,
)
from tls_servers import HAProxy, free_port, wait_for_port

READY_TIMEOUT = 30  # a loaded 2-core machine

# --------------------------------------------------------------------------
# a small PKI per source, made with the openssl CLI (keys generated at run time)
# --------------------------------------------------------------------------

PKI_CNF = OPENSSL_CNF + """
[ v3_issuing_ca ]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ v3_site ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
subjectAltName = DNS:localhost
"""

# The two leaves every source answers for, and what it says about them.
LEAF_STATUS = {"good": "good", "revoked": "revoked"}


@dataclass
class SmallPki:
    """root [-> issuing CA] -> leaves `good` and `revoked` (SAN localhost), and optionally a
    delegated OCSP responder (EKU OCSPSigning) issued by the issuing CA."""
    dir: Path
    root: Path
    ca: Path                  # the leaves' issuer: the root itself, or the intermediate
    ca_key: Path
    leaves: dict[str, Path] = field(default_factory=dict)
    keys: dict[str, Path] = field(default_factory=dict)
    responder: Path | None = None
    responder_key: Path | None = None

    @property
    def issuer_served(self) -> bool:
        """Whether the TLS servers send the leaves' issuer in the chain (an intermediate is
        sent; a root is not, the usual private-PKI layout)."""
        return self.ca != self.root

    def chain(self, leaf: str) -> Path:
        """The certificate file a TLS server is given: the leaf, then the intermediate if any."""
        path = self.dir / f"{leaf}-chain.pem"
        if not path.exists():
            parts = [self.leaves[leaf].read_bytes()] + ([self.ca.read_bytes()] if self.issuer_served else [])
            path.write_bytes(b"".join(parts))
        return path

    def serial(self, leaf: str) -> str:
        return serial_hex(load_cert(self.leaves[leaf]))


def get_path(pki: SmallPki, leaf: str) -> str:
    """The base64 of the SHA-1, nonce-less OCSP request for `leaf`, as a GET puts it in the path."""
    return base64.b64encode(build_request(load_cert(pki.leaves[leaf]), load_cert(pki.ca))).decode()


def make_small_pki(d: Path, label: str, *, key_type: str = "ec", intermediate: bool = False,
                   responder: bool = False, clean_get_paths: bool = False) -> SmallPki:
    """With `clean_get_paths`, a leaf whose GET path would hold "//" is issued again (another
    random serial): CFSSL (Go's ServeMux) redirects such a path and logs its refusal of the GET
    differently, and the nginx-fetch cell looks for the usual log line."""
    d.mkdir(parents=True, exist_ok=True)
    cnf = d / "openssl.cnf"
    cnf.write_text(PKI_CNF)

    def key(name: str) -> Path:
        path = d / f"{name}.key"
        if key_type == "rsa":
            openssl_ok("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", path)
        else:
            openssl_ok("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)
        os.chmod(path, 0o600)
        return path

    def issue(name: str, cn: str, ca: Path, ca_key: Path, extensions: str) -> tuple[Path, Path]:
        k, csr, out = key(name), d / f"{name}.csr", d / f"{name}.pem"
        openssl_ok("req", "-new", "-config", cnf, "-key", k, "-subj", f"/O=OCSP Interop/CN={cn}", "-out", csr)
        openssl_ok("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-days", "30", "-sha256",
                   "-extfile", cnf, "-extensions", extensions, "-out", out)
        return out, k

    root_key = key("root")
    root = d / "root.pem"
    openssl_ok("req", "-new", "-x509", "-config", cnf, "-extensions", "v3_ca", "-key", root_key,
               "-subj", f"/O=OCSP Interop/CN={label} Root", "-days", "30", "-sha256", "-out", root)
    ca, ca_key = root, root_key
    if intermediate:
        ca, ca_key = issue("ca", f"{label} Issuing CA", root, root_key, "v3_issuing_ca")
    pki = SmallPki(d, root, ca, ca_key)
    for leaf in LEAF_STATUS:
        for _ in range(20):
            pki.leaves[leaf], pki.keys[leaf] = issue(leaf, f"{label} {leaf}", ca, ca_key, "v3_site")
            if not clean_get_paths or "//" not in get_path(pki, leaf):
                break
    if responder:
        pki.responder, pki.responder_key = issue("responder", f"{label} OCSP Responder", ca, ca_key, "v3_responder")
    return pki


# --------------------------------------------------------------------------
# a network namespace of our own
# --------------------------------------------------------------------------

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


class Netns:
    """A network namespace with only `lo` up.  Processes run in it with `ip netns exec`, or are
    started by code inside `entered()`, which moves the calling thread (only it: setns(2) is per
    thread) into the namespace, so that everything it spawns and every socket it opens is there:
    tls_servers' Nginx / HAProxy / s_client helpers work unchanged inside it."""

    _count = 0

    def __init__(self):
        Netns._count += 1
        self.name = f"ocsp-e2e-{os.getpid()}-{Netns._count}"
        self.path = Path("/var/run/netns") / self.name
        run_ok(["ip", "netns", "add", self.name])
        try:
            run_ok(["ip", "-n", self.name, "link", "set", "lo", "up"])
        except BaseException:
            self.delete()
            raise

    def exec_prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]

    @staticmethod
    def _setns(fd: int, what: str) -> None:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns({what}): {os.strerror(errno)}")

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        back = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            target = os.open(self.path, os.O_RDONLY)
            try:
                self._setns(target, self.name)
            finally:
                os.close(target)
            try:
                yield
            finally:
                self._setns(back, "the test's own namespace")
        finally:
            os.close(back)

    def pids(self) -> list[int]:
        proc = run(["ip", "netns", "pids", self.name])
        return [int(p) for p in proc.stdout.split()]

    def delete(self) -> list[int]:
        """Removes the namespace; the processes still in it (there should be none: every one was
        stopped by its owner), which are killed."""
        left = self.pids() if self.path.exists() else []
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        run(["ip", "netns", "del", self.name])
        return left


# --------------------------------------------------------------------------
# responders
# --------------------------------------------------------------------------

class _Process:
    """A peer process with its output in a log file."""

    port: int

    def __init__(self, args: list[str], log: Path):
        self.args = [str(a) for a in args]
        self.log = log
        self._log = open(log, "wb")
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def await_answer(self, pki: "SmallPki") -> None:
        """Waits until it answers for the good leaf; stops it if it never does."""
        try:
            self.wait_answering(self.port, build_request(load_cert(pki.leaves["good"]), load_cert(pki.ca)))
        except BaseException:
            self.stop()
            raise

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def diagnostics(self) -> str:
        return f"\n$ {' '.join(self.args)}\nexit status: {self.proc.poll()}\n--- output ---\n{self.output()}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT)
        if not self._log.closed:
            self._log.close()

    def wait_answering(self, port: int, request: bytes, timeout: float = READY_TIMEOUT) -> ocsp.OCSPResponse:
        """POSTs `request` until a successful OCSPResponse comes back (not a bare connect: that
        hangs `openssl ocsp`)."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while True:
            try:
                result = post_ocsp(port, request)
                if result.status == 200:
                    response = ocsp.load_der_ocsp_response(result.body)
                    if response.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL:
                        return response
                last = str(result)
            except (OSError, ValueError) as e:
                last = repr(e)
            if self.proc.poll() is not None:
                pytest.fail(f"{self.args[0]} exited before answering on {port}: {last}" + self.diagnostics())
            if time.monotonic() >= deadline:
                self.stop()
                pytest.fail(f"no OCSP answer on 127.0.0.1:{port} within {timeout}s: {last}" + self.diagnostics())
            time.sleep(0.2)


def openssl_ca_index(pki: SmallPki) -> Path:
    """The index.txt `openssl ca` keeps for pki.ca: `good` valid (V), `revoked` revoked (R,
    keyCompromise), entered by `openssl ca -valid / -revoke`."""
    d = pki.dir / "openssl-ca"
    (d / "certs").mkdir(parents=True)
    (d / "index.txt").write_text("")
    (d / "serial").write_text("1000\n")
    (d / "ca.pem").write_bytes(pki.ca.read_bytes())
    (d / "ca.key").write_bytes(pki.ca_key.read_bytes())
    os.chmod(d / "ca.key", 0o600)
    (d / "ca.cnf").write_text(CA_CNF.format(d=d))
    for leaf in LEAF_STATUS:
        openssl_ok("ca", "-batch", "-config", d / "ca.cnf", "-valid", pki.leaves[leaf])
    openssl_ok("ca", "-batch", "-config", d / "ca.cnf", "-revoke", pki.leaves["revoked"], "-crl_reason", "keyCompromise")
    index = d / "index.txt"
    kinds = sorted(line.split("\t")[0] for line in index.read_text().splitlines())
    assert kinds == ["R", "V"], f"unexpected index.txt:\n{index.read_text()}"
    return index


class OpensslResponder(_Process):
    """`openssl ocsp -index ... -port N` in `netns` (it listens on every address), signing with
    the delegated responder, responses valid 60 min (-nmin)."""

    def __init__(self, netns: Netns, pki: SmallPki, log_dir: Path):
        assert pki.responder is not None
        index = openssl_ca_index(pki)
        with netns.entered():
            self.port = free_port()
        super().__init__(netns.exec_prefix() + [
            "openssl", "ocsp", "-index", index, "-CA", pki.ca, "-rsigner", pki.responder, "-rkey", pki.responder_key,
            "-port", str(self.port), "-nmin", "60"], Path(log_dir) / f"openssl-ocsp-{self.port}.log")
        self.netns = netns
        with netns.entered():
            self.await_answer(pki)


# Debian's ocspserve refuses every GET; this is its log line for one (then the path it read).
CFSSL_GET_REFUSED = "Error decoding base64 from URL: "


def cfssl_get_refused_line(pki: SmallPki, leaf: str) -> str:
    """What ocspserve logs for a GET of the SHA-1, nonce-less request for `leaf` (nginx's and
    ours): the path, leading '/' kept, '+' read as a space."""
    return CFSSL_GET_REFUSED + "/" + get_path(pki, leaf).replace("+", " ")


class CfsslResponder(_Process):
    """`cfssl ocspserve` on 127.0.0.1, serving responses pre-signed by `cfssl ocspsign` with the
    delegated responder: `good` good, `revoked` revoked (keyCompromise); 24 h interval."""

    def __init__(self, pki: SmallPki, log_dir: Path):
        assert pki.responder is not None
        lines = []
        for leaf, status in LEAF_STATUS.items():
            args = ["cfssl", "ocspsign", "-ca", pki.ca, "-responder", pki.responder, "-responder-key",
                    pki.responder_key, "-cert", pki.leaves[leaf], "-status", status, "-interval", "24h"]
            if status == "revoked":
                args += ["-reason", "1"]  # keyCompromise
            proc = run_ok(args)
            lines.append(json.loads(proc.stdout)["ocspResponse"])
        self.responses = pki.dir / "cfssl-responses"
        self.responses.write_text("\n".join(lines) + "\n")
        self.port = free_port()
        super().__init__(["cfssl", "ocspserve", "-address", "127.0.0.1", "-port", str(self.port),
                          "-responses", self.responses], Path(log_dir) / f"cfssl-ocspserve-{self.port}.log")
        self.await_answer(pki)


# --------------------------------------------------------------------------
# clients and servers tls_servers.py has no helper for
# --------------------------------------------------------------------------

CURL_REVOKED = "SSL certificate revocation reason"
CURL_NO_CERTID = "Error computing OCSP ID"
CURL_UNVERIFIED = "OCSP response verification failed"
CURL_NO_STAPLE = "No OCSP response received"
CURL_INVALID_CERT_STATUS = 91  # CURLE_SSL_INVALIDCERTSTATUS


def curl_cert_status(port: int, cacert: Path) -> subprocess.CompletedProcess:
    """`curl --cert-status` to https://localhost:port/ (127.0.0.1), trusting `cacert` only."""
    return run(["curl", "-sS", "--cert-status", "--cacert", cacert, "--max-time", "20",
                "--resolve", f"localhost:{port}:127.0.0.1", f"https://localhost:{port}/"], timeout=30)


class MultiHAProxy(HAProxy):
    """tls_servers.HAProxy with one TLS frontend per (port, crt): the same global section and
    admin socket, several certificates in one process."""

    def __init__(self, workdir: Path, crts: dict[int, Path]):
        assert crts, "no frontend"
        ports = list(crts)
        super().__init__(workdir, crts[ports[0]], ports[0])
        self.ports = ports
        head = self.conf.read_text().split("\nfrontend ")[0]
        self.conf.write_text(head + "".join(f"""
frontend tls{port}
    bind 127.0.0.1:{port} ssl crt {crt}
    http-request return status 200 content-type text/plain string ok
""" for port, crt in crts.items()))

    def start(self, timeout: float = 10) -> "MultiHAProxy":
        super().start(timeout)
        try:
            for port in self.ports[1:]:
                wait_for_port(self.proc, port, timeout, diagnostics=self.diagnostics)
        except BaseException:
            self.stop()
            raise
        return self
