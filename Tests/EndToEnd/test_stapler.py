"""`ocsp-stapler --once` (issue 21, first part) against a running ocspd, checked with python
`cryptography`, a fake responder, and real nginx stapling the file (`openssl s_client -status`)."""

from __future__ import annotations

import datetime as dt
import re
import http.server
import subprocess
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from ocsp_e2e import STAPLER_BIN, Ocspd, ctl_ok, describe, load_cert, openssl_ok, run, verify_signature
from tls_servers import Nginx, free_port, poll_s_client, s_client_status

STAPLER = STAPLER_BIN


def staple(*args, timeout: float = 60) -> subprocess.CompletedProcess:
    return run([STAPLER, "--once", *args], timeout=timeout)


def read_staple(path: Path) -> ocsp.OCSPResponse:
    response = ocsp.load_der_ocsp_response(path.read_bytes())
    assert response.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    return response


def test_once_writes_good_and_revoked_and_keeps_the_last_good(demo, served, tmp_path):
    root, responder = demo / "ec-root.pem", load_cert(demo / "responder.pem")
    out = tmp_path / "site.ocsp"
    proc = staple("--cert", demo / "leaves" / "leaf-ec-01.pem", "--issuer", root, "--out", out, "--url", served.url)
    assert proc.returncode == 0, describe(proc)
    good = read_staple(out)
    assert good.certificate_status == ocsp.OCSPCertStatus.GOOD and good.next_update_utc is not None
    verify_signature(good, responder)
    assert good.hash_algorithm.name == "sha1", "RFC 5019's profile (HAProxy ignores SHA-256 CertIDs)"

    # The issuer from the chain in the certificate file.
    chain = tmp_path / "chain.pem"
    chain.write_bytes((demo / "leaves" / "leaf-ec-01.pem").read_bytes() + root.read_bytes())
    proc = staple("--cert", chain, "--out", tmp_path / "from-chain.ocsp", "--url", served.url)
    assert proc.returncode == 0, describe(proc)

    # Revoked: written (it is the truth), exit 3, logged at error level.
    revoked = tmp_path / "revoked.ocsp"
    proc = staple("--cert", demo / "leaves" / "leaf-ec-02.pem", "--issuer", root, "--out", revoked, "--url", served.url)
    assert proc.returncode == 3 and " error " in proc.stderr and "REVOKED" in proc.stderr, describe(proc)
    assert read_staple(revoked).certificate_status == ocsp.OCSPCertStatus.REVOKED

    # The responder down: exit 1, the last good staple kept as it was.
    before = out.read_bytes()
    proc = staple("--cert", demo / "leaves" / "leaf-ec-01.pem", "--issuer", root, "--out", out,
                  "--url", f"http://127.0.0.1:{free_port()}/", "--timeout", "2")
    assert proc.returncode == 1 and "last valid one is kept" in proc.stderr, describe(proc)
    assert out.read_bytes() == before

    # Bad arguments: exit 2, one line.
    proc = staple("--cert", tmp_path / "missing.pem", "--out", out)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, describe(proc)


def test_once_runs_the_reload_command_only_when_a_staple_changed(demo, served, tmp_path):
    root, leaf = demo / "ec-root.pem", demo / "leaves" / "leaf-ec-01.pem"
    out, marker = tmp_path / "site.ocsp", tmp_path / "reloaded"
    args = ["--cert", leaf, "--issuer", root, "--out", out, "--url", served.url,
            "--reload-command", f"echo reloaded >> {marker}"]
    proc = staple(*args)
    assert proc.returncode == 0 and marker.read_text() == "reloaded\n", describe(proc)
    # ocspd answers the same pre-signed bytes: nothing changed, nothing reloaded.
    proc = staple(*args)
    assert proc.returncode == 0 and marker.read_text() == "reloaded\n", describe(proc)
    # A failing command is reported, and does not change the exit status (the staple is good).
    out.unlink()
    proc = staple(*args[:-1], "exit 9")
    assert proc.returncode == 0 and "the reload command failed" in proc.stderr, describe(proc)


class FakeResponder(http.server.BaseHTTPRequestHandler):
    """Answers every request with the same body (a response signed by an impostor)."""
    body = b""

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "application/ocsp-response")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    do_POST = do_GET  # noqa: N815

    def log_message(self, *args):
        pass


def test_a_wrongly_signed_answer_and_an_expired_staple_are_never_kept(demo, served, tmp_path, bins, log_dir):
    root_pem, leaf_pem = demo / "ec-root.pem", demo / "leaves" / "leaf-ec-01.pem"
    root, leaf = load_cert(root_pem), load_cert(leaf_pem)
    out = tmp_path / "site.ocsp"
    assert staple("--cert", leaf_pem, "--issuer", root_pem, "--out", out, "--url", served.url).returncode == 0
    good = out.read_bytes()

    # A responder whose answer is signed by a key the issuer never authorised.
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    key = ec.generate_private_key(ec.SECP256R1())
    impostor = (x509.CertificateBuilder().subject_name(x509.Name.from_rfc4514_string("CN=Impostor"))
                .issuer_name(root.subject).public_key(key.public_key()).serial_number(9)
                .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
                .sign(key, hashes.SHA256()))
    FakeResponder.body = (ocsp.OCSPResponseBuilder()
                          .add_response(cert=leaf, issuer=root, algorithm=hashes.SHA1(),
                                        cert_status=ocsp.OCSPCertStatus.REVOKED, this_update=now,
                                        next_update=now + dt.timedelta(hours=1), revocation_time=now,
                                        revocation_reason=None)
                          .responder_id(ocsp.OCSPResponderEncoding.HASH, impostor).certificates([impostor])
                          .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))
    fake = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeResponder)
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    try:
        proc = staple("--cert", leaf_pem, "--issuer", root_pem, "--out", out,
                      "--url", f"http://127.0.0.1:{fake.server_address[1]}/")
        assert proc.returncode == 1 and "does not verify" in proc.stderr, describe(proc)
        assert out.read_bytes() == good, "a staple that does not verify replaced the last good one"
    finally:
        fake.shutdown()

    # A staple that has expired is removed when nothing replaces it.
    short = Ocspd(bins, demo / "store", log_dir, validity=2)
    short.wait_ready()
    try:
        expiring = tmp_path / "expiring.ocsp"
        assert staple("--cert", leaf_pem, "--issuer", root_pem, "--out", expiring, "--url", short.url).returncode == 0
    finally:
        short.stop()
    time.sleep(3)
    proc = staple("--cert", leaf_pem, "--issuer", root_pem, "--out", expiring,
                  "--url", f"http://127.0.0.1:{free_port()}/", "--timeout", "2")
    assert proc.returncode == 1 and "removed_stale=true" in proc.stderr, describe(proc)
    assert not expiring.exists(), "an expired staple was left where a server reads it"


def test_must_staple_without_a_staple_is_flagged(demo, served, tmp_path):
    key = tmp_path / "ms.key"
    openssl_ok("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key)
    openssl_ok("req", "-new", "-key", key, "-subj", "/CN=must-staple.test", "-out", tmp_path / "ms.csr")
    (tmp_path / "ms.ext").write_text("tlsfeature=status_request\nbasicConstraints=critical,CA:FALSE\n")
    openssl_ok("x509", "-req", "-in", tmp_path / "ms.csr", "-CA", demo / "ec-root.pem", "-CAkey", demo / "ec-root.key",
               "-CAcreateserial", "-days", "30", "-extfile", tmp_path / "ms.ext", "-out", tmp_path / "ms.pem")
    out = tmp_path / "ms.ocsp"
    # Not in the store: ocspd answers unknown, nothing is written, and must-staple makes it critical.
    proc = staple("--cert", tmp_path / "ms.pem", "--issuer", demo / "ec-root.pem", "--out", out, "--url", served.url)
    assert proc.returncode == 5 and "must-staple" in proc.stderr and "critical" in proc.stderr, describe(proc)
    assert not out.exists()
    # The same certificate without must-staple would only be `unknown` (4): shown with a plain leaf.
    plain = tmp_path / "plain.pem"
    openssl_ok("x509", "-req", "-in", tmp_path / "ms.csr", "-CA", demo / "ec-root.pem", "-CAkey", demo / "ec-root.key",
               "-CAcreateserial", "-days", "30", "-out", plain)
    proc = staple("--cert", plain, "--issuer", demo / "ec-root.pem", "--out", out, "--url", served.url)
    assert proc.returncode == 4 and not out.exists(), describe(proc)


def test_nginx_staples_the_file_the_stapler_writes(bins, demo, served, tmp_path):
    store, root, leaf, leaf_key = demo / "store", demo / "ec-root.pem", demo / "leaves" / "leaf-ec-01.pem", \
        demo / "leaves" / "leaf-ec-01.key"
    out = tmp_path / "site.ocsp"
    assert staple("--cert", leaf, "--issuer", root, "--out", out, "--url", served.url).returncode == 0
    port = free_port()
    with Nginx(tmp_path / "nginx", {port: f"ssl_certificate {leaf}; ssl_certificate_key {leaf_key}; "
                                          f"ssl_stapling on; ssl_stapling_file {out};"}) as nginx:
        text = s_client_status(port, root)
        assert "OCSP Response Status: successful" in text and "Cert Status: good" in text, text

        ctl_ok(bins, "revoke", "--store", store, "--cert", leaf, "--reason", "keyCompromise")
        proc = staple("--cert", leaf, "--issuer", root, "--out", out, "--url", served.url)
        assert proc.returncode == 3, describe(proc)
        nginx.reload()  # nginx reads ssl_stapling_file only at (re)load
        poll_s_client(port, root, "Cert Status: revoked", timeout=10, diagnostics=nginx.diagnostics)


def test_help_names_an_example_configuration_that_exists():
    """Issue 32: `--help` named Config/stapler.yaml; the file is Config/stapling/stapler.yaml."""
    proc = run([STAPLER, "--help"])
    assert proc.returncode == 0, describe(proc)
    named = re.findall(r"Config/[\w/.-]+\.yaml", proc.stdout)
    assert named, proc.stdout
    root = Path(__file__).resolve().parents[2]
    for path in named:
        assert (root / path).is_file(), f"--help names {path}, which does not exist"
