"""ocspd against the `openssl ocsp` client (a peer nobody here wrote)."""

from __future__ import annotations

import pytest

from cryptography import x509
from cryptography.x509 import ocsp

from ocsp_e2e import (
    EXPECTED, REVOKED_TIME_OPENSSL, RSA_REVOKED_TIME_OPENSSL, assert_openssl_status, b64,
    describe, get_ocsp, openssl, openssl_ok, parse_ok_response, response_nonce,
)

OPENSSL_TIME = {
    "ec-revoked": REVOKED_TIME_OPENSSL,
    "rsa-revoked": RSA_REVOKED_TIME_OPENSSL,
}


def _expect(leaf):
    status, reason, _ = EXPECTED[leaf]
    return dict(status=status, reason=reason, rev_time=OPENSSL_TIME.get(leaf),
                expect_no_reason=(status == "revoked" and reason is None))


@pytest.mark.parametrize("leaf", list(EXPECTED))
def test_post_openssl_client(pki, server, leaf):
    """`openssl ocsp -url` (POST): verified signature and the right status line."""
    cert = str(pki.path(leaf))
    proc = openssl("ocsp", "-issuer", pki.path(pki.issuer_of(leaf)), "-cert", cert,
                   "-url", server.url, "-timeout", "10", *pki.verify_args(leaf))
    assert_openssl_status(proc, cert, **_expect(leaf))


@pytest.mark.parametrize("leaf", ["ec-good", "ec-revoked", "ec-unknown",
                                  "rsa-good", "rsa-revoked", "rsa-unknown"])
def test_get_openssl_request_and_verify(pki, server, tmp_path, leaf):
    """Request made by `openssl ocsp -reqout`, sent by GET, response checked by `openssl ocsp -respin`.

    `openssl ocsp -respin ... -cert X` builds a fresh request (with a fresh
    nonce) to find the status to print, so the verifying run uses -no_nonce;
    the nonce echo of the real request is checked here in python instead.
    """
    issuer = pki.path(pki.issuer_of(leaf))
    cert = str(pki.path(leaf))
    req = tmp_path / "req.der"
    openssl_ok("ocsp", "-issuer", issuer, "-cert", cert, "-reqout", req)
    der = req.read_bytes()
    req_nonce = ocsp.load_der_ocsp_request(der).extensions.get_extension_for_class(
        x509.OCSPNonce).value.nonce

    res = get_ocsp(server.port, b64(der))
    resp = parse_ok_response(res)
    assert response_nonce(resp) == req_nonce, "nonce of the openssl request not echoed over GET"
    respin = tmp_path / "resp.der"
    respin.write_bytes(res.body)

    proc = openssl("ocsp", "-respin", respin, "-issuer", issuer, "-cert", cert, "-no_nonce",
                   *pki.verify_args(leaf))
    assert_openssl_status(proc, cert, **_expect(leaf))


def test_ec_delegated_responder_chain_without_vafile(pki, server):
    """Only the root is trusted: openssl must find the responder certificate in the
    response, chain it to the root and accept its OCSPSigning EKU."""
    cert = str(pki.path("ec-good"))
    proc = openssl("ocsp", "-issuer", pki.path("ec-root"), "-cert", cert, "-url", server.url,
                   "-timeout", "10", *pki.verify_args("ec-good", use_vafile=False))
    assert_openssl_status(proc, cert, "good")


def test_ec_response_fails_verification_against_wrong_root(pki, server):
    """Sanity check of the checks: trusting an unrelated root must make openssl reject it."""
    cert = str(pki.path("ec-good"))
    proc = openssl("ocsp", "-issuer", pki.path("ec-root"), "-cert", cert, "-url", server.url,
                   "-timeout", "10", "-CAfile", pki.path("other-ca"))
    out = proc.stdout + proc.stderr
    assert "Response verify OK" not in out, "verification should fail with a wrong trust anchor:" + describe(proc)


@pytest.mark.parametrize("leaf", ["ec-revoked", "rsa-good"])
def test_post_openssl_sha256_certid(pki, server, leaf):
    cert = str(pki.path(leaf))
    proc = openssl("ocsp", "-issuer", pki.path(pki.issuer_of(leaf)), "-sha256", "-cert", cert,
                   "-url", server.url, "-timeout", "10", *pki.verify_args(leaf))
    assert_openssl_status(proc, cert, **_expect(leaf))


@pytest.mark.parametrize("leaves", [("ec-good", "ec-revoked", "ec-unknown"),
                                    ("rsa-revoked", "rsa-unknown", "rsa-good")])
def test_post_openssl_three_certs_one_request(pki, server, leaves):
    issuer = pki.path(pki.issuer_of(leaves[0]))
    args = ["ocsp", "-issuer", issuer]
    for leaf in leaves:
        args += ["-cert", str(pki.path(leaf))]
    proc = openssl(*args, "-url", server.url, "-timeout", "10", *pki.verify_args(leaves[0]))
    for leaf in leaves:
        assert_openssl_status(proc, str(pki.path(leaf)), **_expect(leaf))


def test_openssl_unknown_issuer_is_unauthorized(pki, server):
    proc = openssl("ocsp", "-issuer", pki.path("other-ca"), "-cert", pki.path("other-leaf"),
                   "-url", server.url, "-timeout", "10", "-CAfile", pki.path("other-ca"))
    assert "Responder Error: unauthorized (6)" in proc.stdout + proc.stderr, \
        "expected an unauthorized responseStatus:" + describe(proc)
