"""HAProxy 2.6 stapling what ocspd answers: the `<crt>.ocsp` file `ocsp-stapler --once` writes,
loaded at start, and a fresh staple sent over the runtime API (`set ssl ocsp-response`) with no
reload; plus the rules HAProxy 2.6 applies to staples (see tls_servers.py), checked with
`openssl s_client -status`."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from ocsp_e2e import STAPLER_BIN, Ocspd, ctl_ok, describe, load_cert, run, serial_hex
from tls_servers import (
    HAPROXY_OCSP_SKEW, HAPROXY_OCSP_UPDATED, HAPROXY_REJECTS, HAProxy, haproxy_crt,
    haproxy_set_ocsp_response, s_client_status,
)

# Long enough for HAProxy, which stops stapling a response 300 s before its nextUpdate.
VALIDITY = 3600
NO_STAPLE = "OCSP response: no response sent"


def staple(*args, timeout: float = 60) -> subprocess.CompletedProcess:
    return run([STAPLER_BIN, "--once", *args], timeout=timeout)


def fetch_staple(demo: Path, server: Ocspd, leaf: Path, out: Path, expect_rc: int = 0) -> bytes:
    proc = staple("--cert", leaf, "--issuer", demo / "ec-root.pem", "--out", out, "--url", server.url)
    assert proc.returncode == expect_rc, describe(proc)
    return out.read_bytes()


def leaf_paths(demo: Path, name: str = "leaf-ec-01") -> tuple[Path, Path]:
    return demo / "leaves" / f"{name}.pem", demo / "leaves" / f"{name}.key"


def assert_staple(text: str, status: str, serial: str) -> None:
    assert "OCSP Response Status: successful" in text, text
    assert f"Cert Status: {status}" in text, text
    assert f"Serial Number: {serial}" in text, f"the staple is not about serial {serial}:\n{text}"


def craft(demo: Path, leaf: Path, status: ocsp.OCSPCertStatus = ocsp.OCSPCertStatus.GOOD,
          algorithm: hashes.HashAlgorithm | None = None, this_update: int = -60,
          next_update: int | None = VALIDITY, impostor: bool = False) -> bytes:
    """A response about `leaf` signed by the demo's delegated responder (or by a stranger),
    times in seconds from now."""
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    signer_cert = load_cert(demo / "responder.pem")
    signer_key = serialization.load_pem_private_key((demo / "responder.key").read_bytes(), None)
    if impostor:
        signer_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name.from_rfc4514_string("CN=Impostor")
        signer_cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                       .public_key(signer_key.public_key()).serial_number(9)
                       .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
                       .sign(signer_key, hashes.SHA256()))
    revoked = status == ocsp.OCSPCertStatus.REVOKED
    return (ocsp.OCSPResponseBuilder()
            .add_response(cert=load_cert(leaf), issuer=load_cert(demo / "ec-root.pem"),
                          algorithm=algorithm or hashes.SHA1(), cert_status=status,
                          this_update=now + dt.timedelta(seconds=this_update),
                          next_update=None if next_update is None else now + dt.timedelta(seconds=next_update),
                          revocation_time=now if revoked else None, revocation_reason=None)
            .responder_id(ocsp.OCSPResponderEncoding.HASH, signer_cert).certificates([signer_cert])
            .sign(signer_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))


@pytest.fixture()
def site(demo, served, tmp_path) -> Path:
    """leaf-ec-01's crt file (leaf, key, issuer) with the stapler's `site.pem.ocsp` beside it."""
    leaf, key = leaf_paths(demo)
    crt = haproxy_crt(tmp_path / "site.pem", leaf, key, demo / "ec-root.pem")
    fetch_staple(demo, served, leaf, Path(f"{crt}.ocsp"))
    return crt


def test_haproxy_staples_the_ocsp_file_then_a_revocation_sent_through_the_runtime_api(
        bins, demo, served, site, tmp_path):
    root, (leaf, _) = demo / "ec-root.pem", leaf_paths(demo)
    serial = serial_hex(load_cert(leaf))
    with HAProxy(tmp_path / "haproxy", site) as haproxy:
        assert_staple(s_client_status(haproxy.port, root), "good", serial)
        assert serial.lower() in haproxy.runtime("show ssl ocsp-response").lower(), haproxy.diagnostics()

        ctl_ok(bins, "revoke", "--store", demo / "store", "--cert", leaf, "--reason", "keyCompromise")
        fresh = fetch_staple(demo, served, leaf, tmp_path / "fresh.ocsp", expect_rc=3)
        pid = haproxy.proc.pid
        assert haproxy_set_ocsp_response(haproxy.socket_path, fresh) == HAPROXY_OCSP_UPDATED, haproxy.diagnostics()

        text = s_client_status(haproxy.port, root)
        assert_staple(text, "revoked", serial)
        assert "Revocation Reason: keyCompromise" in text, text
        # No reload, and the file on disk still says good: the answer came through the socket.
        assert haproxy.proc.poll() is None and haproxy.proc.pid == pid, haproxy.diagnostics()
        assert ocsp.load_der_ocsp_response(Path(f"{site}.ocsp").read_bytes()).certificate_status \
            == ocsp.OCSPCertStatus.GOOD


def test_haproxy_refuses_these_staples_and_keeps_serving_the_last_one(demo, site, tmp_path):
    root, (leaf, _) = demo / "ec-root.pem", leaf_paths(demo)
    serial = serial_hex(load_cert(leaf))
    refused = {
        "other certid": craft(demo, leaf, algorithm=hashes.SHA256()),  # HAProxy keys its staples by SHA-1 CertIDs
        "unknown": craft(demo, leaf, status=ocsp.OCSPCertStatus.UNKNOWN),
        "no nextUpdate": craft(demo, leaf, next_update=None),
        "not DER": b"junk",
        "not successful": bytes.fromhex("30030a0103"),  # OCSPResponse { tryLater }
        "no basic response": bytes.fromhex("30030a0100"),  # successful, without responseBytes
    }
    expired = craft(demo, leaf, this_update=-3600, next_update=-(HAPROXY_OCSP_SKEW + 30))
    future = craft(demo, leaf, this_update=HAPROXY_OCSP_SKEW + 30)
    another_leaf = craft(demo, leaf_paths(demo, "leaf-ec-03")[0])
    with HAProxy(tmp_path / "haproxy", site) as haproxy:
        for what, der in refused.items():
            assert haproxy.set_ocsp_response(der) == HAPROXY_REJECTS[what], what
        assert haproxy.set_ocsp_response(expired) == HAPROXY_REJECTS["out of time"]
        assert haproxy.set_ocsp_response(future) == HAPROXY_REJECTS["out of time"]
        assert haproxy.set_ocsp_response(another_leaf) == HAPROXY_REJECTS["other certid"]
        reply = haproxy.runtime("set ssl ocsp-response not*base64").strip()
        assert reply == HAPROXY_REJECTS["not base64"], reply
        assert_staple(s_client_status(haproxy.port, root), "good", serial)

        # Not checked: the signature (so the stapler must verify before it sends), nor the age.
        assert haproxy.set_ocsp_response(craft(demo, leaf, status=ocsp.OCSPCertStatus.REVOKED,
                                               impostor=True)) == HAPROXY_OCSP_UPDATED
        text = s_client_status(haproxy.port, root)
        assert_staple(text, "revoked", serial)
        assert "CN = Impostor" in text or "CN=Impostor" in text, text
        older = craft(demo, leaf, this_update=-3000)
        assert haproxy.set_ocsp_response(older) == HAPROXY_OCSP_UPDATED
        assert_staple(s_client_status(haproxy.port, root), "good", serial)


def test_haproxy_accepts_but_does_not_staple_a_response_with_five_minutes_left(bins, demo, site, tmp_path, log_dir):
    root, (leaf, _) = demo / "ec-root.pem", leaf_paths(demo)
    serial = serial_hex(load_cert(leaf))
    with HAProxy(tmp_path / "haproxy", site) as haproxy:
        for validity, stapled in ((HAPROXY_OCSP_SKEW - 60, False), (HAPROXY_OCSP_SKEW + 120, True)):
            short = Ocspd(bins, demo / "store", log_dir, validity=validity)
            try:
                short.wait_ready()
                der = fetch_staple(demo, short, leaf, tmp_path / f"v{validity}.ocsp")
            finally:
                short.stop()
            assert haproxy.set_ocsp_response(der) == HAPROXY_OCSP_UPDATED, validity
            text = s_client_status(haproxy.port, root)
            if stapled:
                assert_staple(text, "good", serial)
            else:
                assert NO_STAPLE in text and "Cert Status" not in text, f"validity {validity}s:\n{text}"
        # Past nextUpdate but within the 300 s skew: still accepted, and still not stapled.
        late = craft(demo, leaf, this_update=-3600, next_update=-(HAPROXY_OCSP_SKEW - 30))
        assert haproxy.set_ocsp_response(late) == HAPROXY_OCSP_UPDATED
        assert NO_STAPLE in s_client_status(haproxy.port, root)


def test_haproxy_crt_layout(demo, served, tmp_path):
    root, (leaf, key) = demo / "ec-root.pem", leaf_paths(demo)
    serial = serial_hex(load_cert(leaf))
    good = fetch_staple(demo, served, leaf, tmp_path / "good.ocsp")

    # Leaf + key, the issuer in `<crt>.issuer`.
    sidecar = haproxy_crt(tmp_path / "sidecar" / "site.pem", leaf, key, None)
    Path(f"{sidecar}.issuer").write_bytes(root.read_bytes())
    Path(f"{sidecar}.ocsp").write_bytes(good)
    with HAProxy(tmp_path / "sidecar", sidecar) as haproxy:
        assert_staple(s_client_status(haproxy.port, root), "good", serial)

    # A `.ocsp` with no issuer anywhere: HAProxy refuses to start.
    bare = haproxy_crt(tmp_path / "no-issuer" / "site.pem", leaf, key, None)
    Path(f"{bare}.ocsp").write_bytes(good)
    refused = HAProxy(tmp_path / "no-issuer", bare)
    assert refused.run_to_exit() != 0, refused.diagnostics()
    assert "impossible to compute the OCSP certificate ID" in refused.output(), refused.diagnostics()

    # No `.ocsp` at start: the certificate cannot get a staple at run time.
    chain = haproxy_crt(tmp_path / "no-ocsp" / "site.pem", leaf, key, root)
    with HAProxy(tmp_path / "no-ocsp", chain) as haproxy:
        assert haproxy.set_ocsp_response(good) == HAPROXY_REJECTS["other certid"], haproxy.diagnostics()
        assert NO_STAPLE in s_client_status(haproxy.port, root)

    # An empty `.ocsp` is enough to register it (ignored with a warning); then the runtime API works.
    Path(f"{chain}.ocsp").write_bytes(b"")
    with HAProxy(tmp_path / "no-ocsp", chain) as haproxy:
        assert "Unable to parse OCSP response. Content will be ignored." in haproxy.output(), haproxy.diagnostics()
        assert NO_STAPLE in s_client_status(haproxy.port, root)
        assert haproxy.set_ocsp_response(good) == HAPROXY_OCSP_UPDATED, haproxy.diagnostics()
        assert_staple(s_client_status(haproxy.port, root), "good", serial)
