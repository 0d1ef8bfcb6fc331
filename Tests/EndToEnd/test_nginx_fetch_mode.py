"""nginx 1.22 in fetch mode (`ssl_stapling on` + `ssl_stapling_responder`, no stapling file)
asking ocspd itself and stapling its answers, checked with `openssl s_client -status`.

What nginx does here, as observed:
* it fetches lazily: the first handshake starts the request and goes without a staple;
* `ssl_stapling_verify on` needs the demo root in `ssl_trusted_certificate` (nginx looks for the
  issuer there too); the delegated responder's certificate travels in ocspd's answer.  The root in
  the `ssl_certificate` chain is not enough: OCSP_basic_verify() fails with "self-signed
  certificate in certificate chain";
* it never staples a `revoked` answer, verified or not: it logs `certificate status "revoked" in
  the OCSP response` at error level and sends no staple;
* a good answer is cached until it refreshes it; a reload (SIGHUP) makes the new worker ask again.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cryptography import x509

from ocsp_e2e import ctl_ok, load_cert, serial_hex
from tls_servers import Nginx, free_port, poll_s_client, s_client_status

NO_STAPLE = "OCSP response: no response sent"
FETCH_TIMEOUT = 15
REVOKED_LOG = 'certificate status "revoked" in the OCSP response'


def server_body(leaf: Path, key: Path, responder_url: str, trusted: Path | None) -> str:
    return (f"ssl_certificate {leaf};\n        ssl_certificate_key {key};\n"
            f"        ssl_stapling on;\n        ssl_stapling_verify on;\n"
            f"        ssl_stapling_responder {responder_url};\n"
            + (f"        ssl_trusted_certificate {trusted};" if trusted else ""))


def wait_for_log_line(nginx: Nginx, port: int, ca: Path, *parts: str, timeout: float = FETCH_TIMEOUT) -> str:
    """Handshake on `port` (which makes nginx fetch) until a line of its error log has all `parts`."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [l for l in nginx.error_log().splitlines() if all(p in l for p in parts)]
        if lines:
            return lines[-1]
        if time.monotonic() >= deadline:
            pytest.fail(f"no line with {parts} in nginx's error log after {timeout}s" + nginx.diagnostics())
        s_client_status(port, ca)
        time.sleep(0.3)


def test_nginx_fetches_and_staples_good_and_will_not_staple_revoked(bins, demo, served, tmp_path):
    root = demo / "ec-root.pem"
    good, revoked = demo / "leaves" / "leaf-ec-01.pem", demo / "leaves" / "leaf-ec-02.pem"
    aia = load_cert(good).extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert [d.access_location.value for d in aia] == ["http://127.0.0.1:9/"], \
        "the AIA must point away from ocspd for the responder override to matter"
    good_port, revoked_port = free_port(), free_port()
    servers = {good_port: server_body(good, good.with_suffix(".key"), served.url, root),
               revoked_port: server_body(revoked, revoked.with_suffix(".key"), served.url, root)}
    with Nginx(tmp_path / "nginx", servers) as nginx:
        assert NO_STAPLE in s_client_status(good_port, root), "the first handshake only starts the fetch"
        text = poll_s_client(good_port, root, "Cert Status: good", FETCH_TIMEOUT, nginx.diagnostics)
        assert "OCSP Response Status: successful" in text, text
        assert f"Serial Number: {serial_hex(load_cert(good))}" in text, text
        assert "CN=Demo OCSP Responder" in text, "ocspd's delegated responder should be in the staple:\n" + text
        assert "Verify return code: 0 (ok)" in text, text

        wait_for_log_line(nginx, revoked_port, root, REVOKED_LOG, f"peer: 127.0.0.1:{served.port}",
                          f'certificate: "{revoked}"')
        text = s_client_status(revoked_port, root)
        assert NO_STAPLE in text and "Cert Status" not in text, text
        # The good block is unaffected.
        assert "Cert Status: good" in s_client_status(good_port, root)

        # Revoked while stapled: nginx keeps its cached good answer until it refreshes; after a
        # reload it asks again, learns of the revocation, and drops the staple.
        ctl_ok(bins, "revoke", "--store", demo / "store", "--cert", good, "--reason", "keyCompromise")
        nginx.reload()
        wait_for_log_line(nginx, good_port, root, REVOKED_LOG, f'certificate: "{good}"')
        text = s_client_status(good_port, root)
        assert NO_STAPLE in text and "Cert Status" not in text, text


def test_nginx_verifies_the_delegated_responder_only_with_the_root_as_trusted_certificate(demo, served, tmp_path):
    root = demo / "ec-root.pem"
    leaf, key = demo / "leaves" / "leaf-ec-01.pem", demo / "leaves" / "leaf-ec-01.key"
    chain = tmp_path / "chain.pem"
    chain.write_bytes(leaf.read_bytes() + root.read_bytes())
    chain_only, responder_only = free_port(), free_port()
    servers = {chain_only: server_body(chain, key, served.url, None),
               responder_only: server_body(leaf, key, served.url, demo / "responder.pem")}
    with Nginx(tmp_path / "nginx", servers) as nginx:
        # The root only in the certificate chain: the issuer is found, the answer does not verify.
        line = wait_for_log_line(nginx, chain_only, root, "OCSP_basic_verify() failed")
        assert "self-signed certificate in certificate chain" in line, line
        # Only the responder trusted: nginx finds no issuer and turns stapling off at start.
        assert f'"ssl_stapling" ignored, issuer certificate not found for certificate "{leaf}"' \
            in nginx.error_log(), nginx.diagnostics()
        for port in servers:
            text = s_client_status(port, root)
            assert NO_STAPLE in text and "Cert Status" not in text, text
