"""Shared helpers for the ocspd / ocspctl end-to-end tests.

Nothing in here knows how the Swift code works inside: the binaries are only
driven through their command line and HTTP interface, and the peers are the
`openssl` CLI and python `cryptography`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import http.client
import json
import os
import queue
import re
import shlex
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import SignatureAlgorithmOID

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]

# Set by Tests/Sanitizers/run.sh: the binaries are built with ASan or TSan, whose shadow memory
# and quarantine make resident-memory bounds meaningless (every other check still applies).
SANITIZER = os.environ.get("OCSP_SANITIZER", "")

# Per-call timeouts (seconds).  Everything the suite runs is bounded.
CMD_TIMEOUT = 60
HTTP_TIMEOUT = 15
READY_TIMEOUT = 20
STOP_TIMEOUT = 10

REVOKED_TIME = "2026-01-02T03:04:05Z"
REVOKED_TIME_DT = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
# openssl prints GeneralizedTime as "Jan  2 03:04:05 2026 GMT"
REVOKED_TIME_OPENSSL = "Jan  2 03:04:05 2026 GMT"

RSA_REVOKED_TIME = "2025-12-31T23:59:59Z"
RSA_REVOKED_TIME_DT = dt.datetime(2025, 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc)
RSA_REVOKED_TIME_OPENSSL = "Dec 31 23:59:59 2025 GMT"

SERVER_VALIDITY = 7200     # --validity given to the session ocspd
DEFAULT_VALIDITY = 86400   # ocspd without --validity

# name -> (issuer, explicit serial in hex or None = openssl picks a random one)
LEAVES: dict[str, tuple[str, str | None]] = {
    "ec-good": ("ec", None),                      # cert add --cert
    "ec-good-serial": ("ec", "7FEDCBA9876543210123456789ABCDEF01234567"),  # 20 octets, cert add --serial
    "ec-revoked": ("ec", "8F3A5C7E91D2"),          # high bit set -> DER INTEGER needs a 00 prefix
    "ec-revoked-noreason": ("ec", None),
    "ec-unknown": ("ec", None),                   # never added
    "ec-live": ("ec", None),                      # revoked while ocspd runs
    "rsa-good": ("rsa", None),
    "rsa-small-serial": ("rsa", "0F"),            # cert add --issuer --serial 0F
    "rsa-revoked": ("rsa", "1001"),               # added + revoked by --issuer/--serial
    "rsa-unspecified": ("rsa", None),             # revoked --reason unspecified
    "rsa-unknown": ("rsa", None),                 # never added
    "rsa-live": ("rsa", None),
    "other-leaf": ("other", None),                # issuer never added to any store
}

# expected status in the session store: name -> (status, reason or None, openssl revocation time or None)
EXPECTED = {
    "ec-good": ("good", None, None),
    "ec-good-serial": ("good", None, None),
    "ec-revoked": ("revoked", "keyCompromise", REVOKED_TIME),
    "ec-revoked-noreason": ("revoked", None, None),
    "ec-unknown": ("unknown", None, None),
    "rsa-good": ("good", None, None),
    "rsa-small-serial": ("good", None, None),
    "rsa-revoked": ("revoked", "superseded", RSA_REVOKED_TIME),
    "rsa-unspecified": ("revoked", None, None),
    "rsa-unknown": ("unknown", None, None),
}

# The extensions of test certificates (CA, delegated responder, leaf), for `openssl req/x509`.
OPENSSL_CNF = """\
[ req ]
distinguished_name = dn
prompt = no

[ dn ]
CN = unused

[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ v3_responder ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = OCSPSigning
noCheck = ignored
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer

[ v3_leaf ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
authorityInfoAccess = OCSP;URI:http://127.0.0.1:8080/
"""

OCSP_CT = "application/ocsp-response"
OCSP_REQ_CT = "application/ocsp-request"


# --------------------------------------------------------------------------
# subprocess helpers
# --------------------------------------------------------------------------

def run(cmd: Sequence[str | os.PathLike], timeout: float = CMD_TIMEOUT,
        input: str | None = None, cwd: os.PathLike | None = None) -> subprocess.CompletedProcess:
    cmd = [str(c) for c in cmd]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              input=input, cwd=cwd, stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"command timed out after {timeout}s: {shlex.join(cmd)}\n"
                    f"stdout: {e.stdout!r}\nstderr: {e.stderr!r}")


def describe(proc: subprocess.CompletedProcess) -> str:
    args = proc.args if isinstance(proc.args, str) else shlex.join(str(a) for a in proc.args)
    return (f"\n$ {args}\nexit status: {proc.returncode}\n"
            f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}\n--------------")


def run_ok(cmd: Sequence[str | os.PathLike], timeout: float = CMD_TIMEOUT) -> subprocess.CompletedProcess:
    proc = run(cmd, timeout=timeout)
    assert proc.returncode == 0, "command failed:" + describe(proc)
    return proc


def openssl(*args, timeout: float = CMD_TIMEOUT) -> subprocess.CompletedProcess:
    return run(["openssl", *args], timeout=timeout)


def openssl_ok(*args, timeout: float = CMD_TIMEOUT) -> subprocess.CompletedProcess:
    return run_ok(["openssl", *args], timeout=timeout)


@dataclass(frozen=True)
class Binaries:
    ocspd: Path
    ocspctl: Path


# The stapling sidecar (issue 21); $OCSP_STAPLER_BIN overrides it like $OCSPD_BIN does ocspd.
STAPLER_BIN = Path(os.environ.get("OCSP_STAPLER_BIN") or REPO_ROOT / ".build" / "debug" / "ocsp-stapler")


def resolve_binaries() -> Binaries:
    ocspd = Path(os.environ.get("OCSPD_BIN") or REPO_ROOT / ".build" / "debug" / "ocspd")
    ocspctl = Path(os.environ.get("OCSPCTL_BIN") or REPO_ROOT / ".build" / "debug" / "ocspctl")
    missing = [str(p) for p in (ocspd, ocspctl) if not (p.is_file() and os.access(p, os.X_OK))]
    if missing:
        pytest.fail(
            "end-to-end tests need the built binaries, not found / not executable: "
            + ", ".join(missing)
            + f"\nRun `swift build` in {REPO_ROOT} first "
              "(or point $OCSPD_BIN / $OCSPCTL_BIN at the binaries).",
            pytrace=False)
    return Binaries(ocspd, ocspctl)


def ctl(bins: Binaries, *args, timeout: float = CMD_TIMEOUT) -> subprocess.CompletedProcess:
    return run([bins.ocspctl, *args], timeout=timeout)


def ctl_ok(bins: Binaries, *args, timeout: float = CMD_TIMEOUT) -> subprocess.CompletedProcess:
    proc = ctl(bins, *args, timeout=timeout)
    assert proc.returncode == 0, "ocspctl failed:" + describe(proc)
    return proc


def ctl_status_json(bins: Binaries, store: Path, *selector) -> dict:
    """`ocspctl status --json`: exit 0 for a certificate the store knows, 3 for one it does not
    (which prints status `unknown`)."""
    proc = ctl(bins, "status", "--store", store, *selector, "--json")
    assert proc.returncode in (0, 3), "ocspctl status --json failed:" + describe(proc)
    try:
        obj = json.loads(proc.stdout)
    except json.JSONDecodeError as e:
        pytest.fail(f"ocspctl status --json did not print JSON ({e}):" + describe(proc))
    assert isinstance(obj, dict), "status --json must print one JSON object:" + describe(proc)
    assert (proc.returncode == 3) == (obj.get("status") == "unknown"), "exit 3 exactly when unknown:" + describe(proc)
    return obj


# --------------------------------------------------------------------------
# certificates
# --------------------------------------------------------------------------

def load_cert(path: os.PathLike) -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def serial_hex(cert: x509.Certificate) -> str:
    """Upper-case hex of the serial, even number of digits."""
    h = format(cert.serial_number, "X")
    return h if len(h) % 2 == 0 else "0" + h


def spki_key_hash(cert: x509.Certificate) -> bytes:
    """SHA-1 of the subjectPublicKey BIT STRING value (RFC 6960 ResponderID byKey)."""
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    tag, content, _ = der_read(spki)
    children = der_children(content)
    bit_string = [c for c in children if c[0] == 0x03][0][1]
    return hashlib.sha1(bit_string[1:]).digest()  # skip "unused bits" octet


# --------------------------------------------------------------------------
# minimal DER reader / writer (enough to splice OCSP requests together)
# --------------------------------------------------------------------------

def der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def der_tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + der_len(len(content)) + content


def der_read(buf: bytes, pos: int = 0) -> tuple[int, bytes, int]:
    """Return (tag, content, end offset) of the TLV at pos (single-byte tags only)."""
    tag = buf[pos]
    pos += 1
    length = buf[pos]
    pos += 1
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(buf[pos:pos + n], "big")
        pos += n
    end = pos + length
    if end > len(buf):
        raise ValueError("truncated DER")
    return tag, buf[pos:end], end


def der_children(content: bytes) -> list[tuple[int, bytes, bytes]]:
    """List of (tag, content, full TLV) for the elements inside a constructed value."""
    out, pos = [], 0
    while pos < len(content):
        start = pos
        tag, inner, pos = der_read(content, pos)
        out.append((tag, inner, content[start:pos]))
    return out


# --------------------------------------------------------------------------
# OCSP requests
# --------------------------------------------------------------------------

def build_request(cert: x509.Certificate, issuer: x509.Certificate,
                  algorithm: hashes.HashAlgorithm | None = None,
                  nonce: bytes | None = None) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, algorithm or hashes.SHA1())
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def _split_request(req_der: bytes) -> tuple[list[bytes], bytes | None]:
    """-> (list of `Request` TLVs, requestExtensions [2] TLV or None)."""
    _, ocsp_req, _ = der_read(req_der)
    tbs_tag, tbs, _ = der_children(ocsp_req)[0]
    assert tbs_tag == 0x30
    requests, exts = None, None
    for tag, inner, full in der_children(tbs):
        if tag == 0x30:
            requests = [c[2] for c in der_children(inner)]
        elif tag == 0xA2:
            exts = full
    assert requests is not None
    return requests, exts


def build_multi_request(items: Iterable[tuple[x509.Certificate, x509.Certificate, hashes.HashAlgorithm]],
                        nonce: bytes | None = None) -> bytes:
    """An OCSPRequest with several CertIDs (cryptography's builder only does one)."""
    items = list(items)
    entries: list[bytes] = []
    for cert, issuer, algo in items:
        reqs, _ = _split_request(build_request(cert, issuer, algo))
        entries.extend(reqs)
    tbs = der_tlv(0x30, b"".join(entries))
    if nonce is not None:
        # borrow a correctly encoded nonce extension from a cryptography-built request
        cert, issuer, algo = items[0]
        _, exts = _split_request(build_request(cert, issuer, algo, nonce=nonce))
        tbs += exts
    return der_tlv(0x30, der_tlv(0x30, tbs))


def cert_id_fields(cert: x509.Certificate, issuer: x509.Certificate,
                   algorithm: hashes.HashAlgorithm) -> tuple[bytes, bytes, int]:
    req = ocsp.load_der_ocsp_request(build_request(cert, issuer, algorithm))
    return req.issuer_name_hash, req.issuer_key_hash, req.serial_number


def b64(der: bytes) -> str:
    return base64.b64encode(der).decode("ascii")


# --------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------

@dataclass
class HttpResult:
    status: int
    headers: dict
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def __str__(self) -> str:
        return f"HTTP {self.status} {self.headers} body[{len(self.body)}]={self.body[:80]!r}"


def http_request(port: int, method: str, path: str, body: bytes | None = None,
                 headers: dict | None = None, conn: http.client.HTTPConnection | None = None) -> HttpResult:
    own = conn is None
    if own:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return HttpResult(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
    finally:
        if own:
            conn.close()


def post_ocsp(port: int, der: bytes, conn=None) -> HttpResult:
    return http_request(port, "POST", "/", der, {"Content-Type": OCSP_REQ_CT}, conn=conn)


def get_ocsp(port: int, path_b64: str, conn=None) -> HttpResult:
    return http_request(port, "GET", "/" + path_b64, conn=conn)


def parse_ok_response(res: HttpResult) -> ocsp.OCSPResponse:
    assert res.status == 200, f"expected HTTP 200, got {res}"
    assert res.content_type.split(";")[0].strip().lower() == OCSP_CT, \
        f"expected Content-Type {OCSP_CT}, got {res.content_type!r}"
    try:
        resp = ocsp.load_der_ocsp_response(res.body)
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"response body is not a DER OCSPResponse ({e}): {res}")
    assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL, \
        f"expected responseStatus successful, got {resp.response_status}"
    return resp


def assert_rejected(res: HttpResult, what: str) -> None:
    """Garbage input must give an HTTP 4xx, or an OCSP malformedRequest."""
    if 400 <= res.status < 500:
        return
    assert res.status == 200, f"{what}: expected HTTP 4xx or 200+malformedRequest, got {res}"
    try:
        resp = ocsp.load_der_ocsp_response(res.body)
    except Exception as e:  # noqa: BLE001
        pytest.fail(f"{what}: HTTP 200 but body is not an OCSPResponse ({e}): {res}")
    assert resp.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST, \
        f"{what}: expected malformedRequest, got {resp.response_status}"


def verify_signature(resp: ocsp.OCSPResponse, signer: x509.Certificate) -> None:
    pub = signer.public_key()
    if isinstance(pub, ec.EllipticCurvePublicKey):
        assert resp.signature_algorithm_oid == SignatureAlgorithmOID.ECDSA_WITH_SHA256, \
            f"EC responder should sign with ecdsa-with-SHA256, got {resp.signature_algorithm_oid}"
        pub.verify(resp.signature, resp.tbs_response_bytes, ec.ECDSA(hashes.SHA256()))
    elif isinstance(pub, rsa.RSAPublicKey):
        assert resp.signature_algorithm_oid == SignatureAlgorithmOID.RSA_WITH_SHA256, \
            f"RSA responder should sign with sha256WithRSAEncryption, got {resp.signature_algorithm_oid}"
        pub.verify(resp.signature, resp.tbs_response_bytes, padding.PKCS1v15(), hashes.SHA256())
    else:  # pragma: no cover
        raise AssertionError(f"unexpected signer key type {type(pub)}")


def assert_signed_by(resp: ocsp.OCSPResponse, signer: x509.Certificate) -> None:
    """Signature, ResponderID and embedded certificate all point at `signer`."""
    verify_signature(resp, signer)
    if resp.responder_name is not None:
        assert resp.responder_name == signer.subject, \
            f"ResponderID byName {resp.responder_name.rfc4514_string()} != {signer.subject.rfc4514_string()}"
    else:
        assert resp.responder_key_hash == spki_key_hash(signer), "ResponderID byKey does not match signer key"
    ders = [c.public_bytes(serialization.Encoding.DER) for c in resp.certificates]
    # The signer's certificate travels with every response, a CA's signing its own too (issue
    # 32): OCSP_basic_verify (nginx, curl) looks for the signer only there and in the served chain.
    assert ders == [signer.public_bytes(serialization.Encoding.DER)], \
        f"the response should carry exactly its signer {signer.subject.rfc4514_string()}, has " \
        f"{[c.subject.rfc4514_string() for c in resp.certificates]}"


def is_ca(certificate: x509.Certificate) -> bool:
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def response_nonce(resp: ocsp.OCSPResponse) -> bytes | None:
    try:
        return resp.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return None


# --------------------------------------------------------------------------
# openssl ocsp client
# --------------------------------------------------------------------------

def assert_openssl_status(proc: subprocess.CompletedProcess, cert_arg: str, status: str,
                          reason: str | None = None, rev_time: str | None = None,
                          expect_no_reason: bool = False) -> None:
    out = proc.stdout + proc.stderr
    msg = describe(proc)
    assert proc.returncode == 0, "openssl ocsp failed:" + msg
    assert "Response verify OK" in out, "openssl did not verify the response:" + msg
    assert "WARNING" not in out, "openssl printed a warning:" + msg
    lines = proc.stdout.splitlines()
    key = f"{cert_arg}: "
    idx = [i for i, l in enumerate(lines) if l.startswith(key)]
    assert idx, f"no status line for {cert_arg}:" + msg
    i = idx[0]
    assert lines[i] == f"{cert_arg}: {status}", f"expected status {status!r}:" + msg
    # the indented detail lines that follow this status line
    details = []
    for l in lines[i + 1:]:
        if not l.startswith("\t") and not l.startswith(" "):
            break
        details.append(l.strip())
    assert any(d.startswith("This Update:") for d in details), "no This Update:" + msg
    assert any(d.startswith("Next Update:") for d in details), "no Next Update:" + msg
    if reason is not None:
        assert f"Reason: {reason}" in details, f"expected 'Reason: {reason}':" + msg
    if expect_no_reason:
        assert not any(d.startswith("Reason:") for d in details), "unexpected Reason line:" + msg
    if rev_time is not None:
        assert f"Revocation Time: {rev_time}" in details, f"expected 'Revocation Time: {rev_time}':" + msg


# --------------------------------------------------------------------------
# ocspd process
# --------------------------------------------------------------------------

READY_RE = re.compile(r"^ocspd listening on http://127\.0\.0\.1:(\d+)/$")


class Ocspd:
    """A running ocspd on 127.0.0.1:<ephemeral port>. Always call stop()."""

    _counter = 0

    def __init__(self, bins: Binaries, store: Path, log_dir: Path, validity: int | None = None,
                 extra: Sequence[str] = (), port: int = 0):
        Ocspd._counter += 1
        self.args = [str(bins.ocspd), "--store", str(store), "--listen", f"127.0.0.1:{port}"]
        if validity is not None:
            self.args += ["--validity", str(validity)]
        self.args += list(extra)
        self.stderr_path = Path(log_dir) / f"ocspd-{Ocspd._counter}.stderr"
        self._stderr = open(self.stderr_path, "w+b")
        self.stdout_lines: list[str] = []
        self._lines: queue.Queue = queue.Queue()
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._stderr, text=True, bufsize=1)
        # keep draining stdout so the server can never block on a full pipe
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        self.port: int | None = None
        self.ready_line: str | None = None

    def _drain(self) -> None:
        try:
            for line in self.proc.stdout:
                self.stdout_lines.append(line)
                self._lines.put(line)
        finally:
            self._lines.put(None)

    def stderr_text(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def diagnostics(self) -> str:
        return (f"\n$ {shlex.join(self.args)}\nexit status: {self.proc.poll()}\n"
                f"--- stdout ---\n{''.join(self.stdout_lines)}--- stderr ---\n{self.stderr_text()}")

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> int:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            self.stop()
            pytest.fail(f"ocspd printed nothing within {timeout}s" + self.diagnostics())
        if line is None:
            self.stop()
            pytest.fail("ocspd exited before printing its listening line" + self.diagnostics())
        self.ready_line = line.rstrip("\r\n")
        m = READY_RE.match(self.ready_line)
        if not m:
            self.stop()
            pytest.fail(f"first stdout line is not 'ocspd listening on http://127.0.0.1:<port>/': "
                        f"{self.ready_line!r}" + self.diagnostics())
        self.port = int(m.group(1))
        return self.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT)
        self._reader.join(timeout=5)
        if not self._stderr.closed:
            self._stderr.close()
        return self.proc.returncode


def start_ocspd(bins: Binaries, store: Path, log_dir: Path, validity: int | None = None) -> Ocspd:
    d = Ocspd(bins, store, log_dir, validity)
    d.wait_ready()
    return d


def start_with(bins: Binaries, store: Path, log_dir: Path, *extra: str) -> Ocspd:
    """ocspd on `store` with extra arguments, once it is listening."""
    d = Ocspd(bins, store, log_dir, extra=list(extra))
    d.wait_ready()
    return d


# --------------------------------------------------------------------------
# store snapshots (to check that failed commands write nothing)
# --------------------------------------------------------------------------

# lock / journal files that a reader may legitimately touch (LMDB lock.mdb, SQLite -shm/-wal, ...)
_VOLATILE = re.compile(r"(\.lock|-shm|-wal|-journal|\.lck|^lock\.mdb)$")


def snapshot_tree(root: Path) -> dict[str, str]:
    snap = {}
    for p in sorted(Path(root).rglob("*")):
        rel = str(p.relative_to(root))
        if _VOLATILE.search(p.name):
            continue
        if p.is_dir():
            snap[rel + "/"] = "dir"
        elif p.is_file():
            snap[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return snap


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


# --------------------------------------------------------------------------
# expected content of a SingleResponse
# --------------------------------------------------------------------------

STATUS = {"good": ocsp.OCSPCertStatus.GOOD, "revoked": ocsp.OCSPCertStatus.REVOKED,
          "unknown": ocsp.OCSPCertStatus.UNKNOWN}
# RFC 5280 reason names (as ocspctl takes them) -> what cryptography decodes from OCSP.
# "unspecified" is expected to produce no revocationReason at all.
REASON_FLAG = {
    "unspecified": None,
    "keyCompromise": x509.ReasonFlags.key_compromise,
    "cACompromise": x509.ReasonFlags.ca_compromise,
    "affiliationChanged": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessationOfOperation": x509.ReasonFlags.cessation_of_operation,
    "certificateHold": x509.ReasonFlags.certificate_hold,
    "privilegeWithdrawn": x509.ReasonFlags.privilege_withdrawn,
    "aACompromise": x509.ReasonFlags.aa_compromise,
}
SKEW = dt.timedelta(minutes=5)


def parse_time(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)


def check_status(single, what: str, status: str, reason: str | None = None,
                 rev_time: dt.datetime | None = None,
                 rev_window: tuple[dt.datetime, dt.datetime] | None = None) -> None:
    assert single.certificate_status == STATUS[status], \
        f"{what}: status {single.certificate_status} != {status}"
    if status != "revoked":
        return
    if rev_time is not None:
        assert single.revocation_time_utc == rev_time, \
            f"{what}: revocationTime {single.revocation_time_utc} != {rev_time}"
    elif rev_window is not None:
        lo, hi = rev_window
        assert lo <= single.revocation_time_utc <= hi, \
            f"{what}: revocationTime {single.revocation_time_utc} not within [{lo}, {hi}]"
    else:
        assert single.revocation_time_utc <= utcnow() + SKEW, f"{what}: revocationTime in the future"
    expected_flag = REASON_FLAG[reason] if reason is not None else None
    assert single.revocation_reason == expected_flag, \
        f"{what}: revocationReason {single.revocation_reason} != {expected_flag}" + \
        (" (revoked without a reason / 'unspecified' must carry no reason)" if expected_flag is None else "")


def check_times(single, what: str, validity: int) -> None:
    now = utcnow()
    this_update, next_update = single.this_update_utc, single.next_update_utc
    assert next_update is not None, f"{what}: nextUpdate missing"
    assert next_update - this_update == dt.timedelta(seconds=validity), \
        f"{what}: nextUpdate - thisUpdate = {next_update - this_update}, expected {validity}s"
    assert this_update <= now + SKEW, f"{what}: thisUpdate {this_update} is in the future (now {now})"
    assert next_update > now, f"{what}: nextUpdate {next_update} already passed (now {now})"


def check_certid(single, what: str, cert: x509.Certificate, issuer: x509.Certificate,
                 algorithm: hashes.HashAlgorithm) -> None:
    name_hash, key_hash, serial = cert_id_fields(cert, issuer, algorithm)
    assert single.serial_number == serial, f"{what}: serial {single.serial_number:X} != {serial:X}"
    assert isinstance(single.hash_algorithm, type(algorithm)), \
        f"{what}: CertID hash {single.hash_algorithm.name} != request's {algorithm.name}"
    assert single.issuer_name_hash == name_hash, f"{what}: issuerNameHash differs from the request"
    assert single.issuer_key_hash == key_hash, f"{what}: issuerKeyHash differs from the request"


def check_single(single, pki, leaf: str, algorithm: hashes.HashAlgorithm,
                 validity: int = SERVER_VALIDITY) -> None:
    """Compare one SingleResponse (or a one-response OCSPResponse) with EXPECTED[leaf]."""
    check_certid(single, leaf, pki.cert(leaf), pki.cert(pki.issuer_of(leaf)), algorithm)
    status, reason, rev_time = EXPECTED[leaf]
    check_status(single, leaf, status, reason, parse_time(rev_time) if rev_time else None)
    check_times(single, leaf, validity)


def new_responder(demo: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A second delegated OCSP responder (certificate, key) for the demo EC root, for rotations."""
    key, csr, cert, ext = (tmp_path / n for n in ("r2.key", "r2.csr", "r2.pem", "r2.ext"))
    ext.write_text("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                   "extendedKeyUsage=OCSPSigning\nnoCheck=ignored\nsubjectKeyIdentifier=hash\n"
                   "authorityKeyIdentifier=keyid\n")
    openssl_ok("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key)
    os.chmod(key, 0o600)
    openssl_ok("req", "-new", "-key", key, "-subj", "/CN=Rotated OCSP Responder", "-out", csr)
    openssl_ok("x509", "-req", "-in", csr, "-CA", demo / "ec-root.pem", "-CAkey", demo / "ec-root.key",
               "-CAcreateserial", "-days", "30", "-extfile", ext, "-out", cert)
    return cert, key


# An `openssl ca` configuration for a CA of its own, in directory {d}.
CA_CNF = """
[ ca ]
default_ca = test
[ test ]
dir = {d}
database = {d}/index.txt
new_certs_dir = {d}/certs
certificate = {d}/ca.pem
private_key = {d}/ca.key
serial = {d}/serial
default_md = sha256
default_days = 30
policy = anything
unique_subject = no
[ anything ]
commonName = supplied
"""


def make_ca(d: Path, subject: str, names: Sequence[str]) -> None:
    """A CA run by `openssl ca` in `d` (ca.pem, ca.key, ca.cnf, index.txt) that has issued one leaf
    per name (NAME.pem): its index.txt is what `ocspctl import` reads."""
    (d / "certs").mkdir()
    (d / "index.txt").write_text("")
    (d / "serial").write_text("1000\n")
    (d / "ca.cnf").write_text(CA_CNF.format(d=d))
    openssl_ok("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", d / "ca.key")
    os.chmod(d / "ca.key", 0o600)
    openssl_ok("req", "-new", "-x509", "-key", d / "ca.key", "-subj", f"/CN={subject}", "-days", "30",
               "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
               "-out", d / "ca.pem")
    for name in names:
        issue(d, name)


def issue(d: Path, name: str) -> None:
    """Has the `make_ca` CA in `d` issue a leaf for a new key: NAME.pem (and NAME.key)."""
    openssl_ok("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", d / f"{name}.key")
    openssl_ok("req", "-new", "-key", d / f"{name}.key", "-subj", f"/CN={name}", "-out", d / f"{name}.csr")
    openssl_ok("ca", "-batch", "-config", d / "ca.cnf", "-in", d / f"{name}.csr", "-out", d / f"{name}.pem")


# --------------------------------------------------------------------------
# configuration (--check-config)
# --------------------------------------------------------------------------

def clean_environment(**extra: str) -> dict[str, str]:
    """The environment without ocspd's and the stapler's variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OCSPD_", "OCSP_STAPLER_"))}
    env.update(extra)
    return env


def check_config_values(proc: subprocess.CompletedProcess) -> dict[str, tuple[str, str]]:
    """`--check-config` output (`key: value  # source` lines) as key -> (value, source)."""
    assert proc.returncode == 0, describe(proc)
    values = {}
    for line in proc.stdout.splitlines():
        if line.startswith("#"):
            continue
        key, rest = line.split(": ", 1)
        value, source = rest.rsplit("  # ", 1)
        values[key] = (value, source)
    return values
