"""Signers and keys (issue 18): a response never outlives its signer, an expired response is never
served (tryLater with no-cache instead), key files others may read are refused, and an expired
signer keeps ocspd from starting. Checked with `openssl ocsp` and python `cryptography`."""

from __future__ import annotations

import datetime as dt
import os
import re
import time
from pathlib import Path

from cryptography import x509
from cryptography.x509 import ocsp

from ocsp_e2e import (
    Ocspd, build_request, ctl, ctl_ok, describe, load_cert, openssl, openssl_ok, post_ocsp,
)


def short_lived_responder(demo: Path, days: int) -> tuple[Path, Path]:
    """A delegated responder for the demo's EC root whose certificate ends in `days` days."""
    key, csr, cert, ext = (demo / "short.key", demo / "short.csr", demo / "short.pem", demo / "short.ext")
    ext.write_text("extendedKeyUsage = OCSPSigning\nbasicConstraints = critical, CA:FALSE\n")
    openssl_ok("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
    openssl_ok("req", "-new", "-key", key, "-subj", "/CN=Short-lived responder", "-out", csr)
    openssl_ok("x509", "-req", "-in", csr, "-CA", demo / "ec-root.pem", "-CAkey", demo / "ec-root.key",
               "-days", str(days), "-extfile", ext, "-out", cert)
    return cert, key


def use_responder(bins, demo: Path, cert: Path, key: Path, validity: str) -> None:
    ctl_ok(bins, "issuer", "add", "--replace", "--store", demo / "store", "--cert", demo / "ec-root.pem",
           "--key", demo / "ec-root.key", "--responder-cert", cert, "--responder-key", key, "--validity", validity)
    ctl_ok(bins, "presign", "--store", demo / "store")


def test_next_update_is_cut_to_the_signers_not_after(bins, demo, log_dir):
    cert, key = short_lived_responder(demo, days=2)
    use_responder(bins, demo, cert, key, "7d")
    not_after = load_cert(cert).not_valid_after_utc
    server = Ocspd(bins, demo / "store", log_dir, extra=["--no-crl"])
    try:
        server.wait_ready()
        leaf = demo / "leaves" / "leaf-ec-01.pem"
        proc = openssl("ocsp", "-issuer", demo / "ec-root.pem", "-cert", leaf, "-url", server.url,
                       "-CAfile", demo / "ec-root.pem", "-VAfile", cert, "-resp_text")
        assert proc.returncode == 0 and "Response verify OK" in proc.stdout + proc.stderr, describe(proc)
        next_updates = re.findall(r"Next Update: (.+ GMT)", proc.stdout)
        assert next_updates, describe(proc)
        for text in next_updates:
            when = dt.datetime.strptime(text, "%b %d %H:%M:%S %Y GMT").replace(tzinfo=dt.timezone.utc)
            assert when == not_after, f"nextUpdate {when} is not the responder's notAfter {not_after}"
        # The same through the full path (a SHA-256 CertID is signed on request).
        from cryptography.hazmat.primitives import hashes
        res = post_ocsp(server.port, build_request(load_cert(leaf), load_cert(demo / "ec-root.pem"), hashes.SHA256()))
        assert ocsp.load_der_ocsp_response(res.body).next_update_utc == not_after
    finally:
        server.stop()


def test_an_expired_signer_keeps_ocspd_from_starting(bins, demo, log_dir):
    # An OCSPSigning certificate that ended in 2020, made with python `cryptography` (openssl 3.0
    # cannot back-date one).
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    root = load_cert(demo / "ec-root.pem")
    root_key = serialization.load_pem_private_key((demo / "ec-root.key").read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    expired = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "Expired responder")]))
               .issuer_name(root.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc))
               .not_valid_after(dt.datetime(2020, 1, 2, tzinfo=dt.timezone.utc))
               .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
               .sign(root_key, hashes.SHA256()))
    (demo / "expired.pem").write_bytes(expired.public_bytes(serialization.Encoding.PEM))
    key_path = demo / "expired.key"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    os.chmod(key_path, 0o600)
    ctl_ok(bins, "issuer", "add", "--replace", "--store", demo / "store", "--cert", demo / "ec-root.pem",
           "--key", demo / "ec-root.key", "--responder-cert", demo / "expired.pem", "--responder-key", key_path)
    server = Ocspd(bins, demo / "store", log_dir, extra=["--no-crl"])
    code = server.proc.wait(timeout=30)
    server.stop()
    err = server.stderr_text()
    assert code != 0, "ocspd started with an expired signer" + server.diagnostics()
    assert "expired" in err and "ocspctl issuer add --replace" in err, server.diagnostics()


def test_expired_and_unsignable_is_try_later_with_no_cache(bins, demo, log_dir):
    ctl_ok(bins, "issuer", "add", "--replace", "--store", demo / "store", "--cert", demo / "ec-root.pem",
           "--key", demo / "ec-root.key", "--responder-cert", demo / "responder.pem",
           "--responder-key", demo / "responder.key", "--validity", "3")
    ctl_ok(bins, "presign", "--store", demo / "store")
    time.sleep(4)  # every response of the EC root is now past its nextUpdate
    (demo / "responder.key").rename(demo / "responder.key.away")  # and none can be signed
    server = Ocspd(bins, demo / "store", log_dir, extra=["--no-crl"])
    try:
        server.wait_ready()
        der = build_request(load_cert(demo / "leaves" / "leaf-ec-01.pem"), load_cert(demo / "ec-root.pem"))
        for _ in range(3):
            res = post_ocsp(server.port, der)
            parsed = ocsp.load_der_ocsp_response(res.body)
            assert parsed.response_status == ocsp.OCSPResponseStatus.TRY_LATER, parsed.response_status
            assert "no-cache" in res.headers.get("cache-control", ""), res.headers
        assert "cannot load the signing key" in server.stderr_text(), server.diagnostics()
        assert "answered tryLater" in server.stderr_text(), server.diagnostics()
    finally:
        server.stop()


def test_key_files_others_may_read_are_refused(bins, demo, log_dir, tmp_path):
    key = demo / "responder.key"
    os.chmod(key, 0o644)
    # ocspctl: one line naming the fix, nothing written.
    proc = ctl(bins, "issuer", "add", "--replace", "--store", demo / "store", "--cert", demo / "ec-root.pem",
               "--key", demo / "ec-root.key", "--responder-cert", demo / "responder.pem", "--responder-key", key)
    assert proc.returncode != 0 and "chmod 600" in proc.stderr and "\n" not in proc.stderr.strip(), describe(proc)
    # ocspd: refuses to start, saying how to fix it.
    server = Ocspd(bins, demo / "store", log_dir, extra=["--no-crl"])
    code = server.proc.wait(timeout=30)
    server.stop()
    assert code != 0 and "chmod 600" in server.stderr_text(), server.diagnostics()
    # The explicit way out.
    server = Ocspd(bins, demo / "store", log_dir, extra=["--no-crl", "--allow-insecure-key-permissions"])
    try:
        server.wait_ready()
        der = build_request(load_cert(demo / "leaves" / "leaf-ec-01.pem"), load_cert(demo / "ec-root.pem"),
                            nonce=os.urandom(16))
        parsed = ocsp.load_der_ocsp_response(post_ocsp(server.port, der).body)
        assert parsed.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    finally:
        server.stop()
    ctl_ok(bins, "issuer", "add", "--replace", "--store", demo / "store", "--cert", demo / "ec-root.pem",
           "--key", demo / "ec-root.key", "--responder-cert", demo / "responder.pem", "--responder-key", key,
           "--allow-insecure-key-permissions")
