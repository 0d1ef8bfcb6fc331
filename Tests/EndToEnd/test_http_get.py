"""RFC 5019 GET requests: raw base64 (with '/' and '+') and percent-encoded base64."""

from __future__ import annotations

import os
import urllib.parse
import urllib.request

import pytest
from cryptography.hazmat.primitives import hashes

from ocsp_e2e import (
    HTTP_TIMEOUT, OCSP_CT, assert_signed_by, b64, build_request, check_single, get_ocsp,
    parse_ok_response, response_nonce,
)

MAX_TRIES = 500


def find_request(pki, leaf, algorithm, must_contain):
    """Vary the nonce until the base64 of the request contains every char in must_contain."""
    cert, issuer = pki.cert(leaf), pki.cert(pki.issuer_of(leaf))
    for attempt in range(MAX_TRIES):
        # The nonce's length varies too: '=' padding depends on the request's length mod 3, which a
        # leaf serial of the wrong length would otherwise fix at none.
        nonce = os.urandom(16 + attempt % 3)
        der = build_request(cert, issuer, algorithm, nonce=nonce)
        text = b64(der)
        if all(c in text for c in must_contain):
            return der, text, nonce
    pytest.fail(f"no request whose base64 contains {must_contain!r} in {MAX_TRIES} tries")


@pytest.mark.parametrize("leaf", ["ec-good", "ec-revoked", "rsa-good", "rsa-revoked"])
def test_get_plain_no_nonce(pki, server, leaf):
    der = build_request(pki.cert(leaf), pki.cert(pki.issuer_of(leaf)))
    resp = parse_ok_response(get_ocsp(server.port, b64(der)))
    assert_signed_by(resp, pki.cert(pki.signer_of(leaf)))
    check_single(resp, pki, leaf, hashes.SHA1())


@pytest.mark.parametrize("algorithm", [hashes.SHA1(), hashes.SHA256()], ids=["sha1", "sha256"])
@pytest.mark.parametrize("leaf", ["ec-revoked", "rsa-good"])
def test_get_raw_base64_with_slash_and_plus(pki, server, leaf, algorithm):
    der, text, nonce = find_request(pki, leaf, algorithm, "/+")
    res = get_ocsp(server.port, text)
    resp = parse_ok_response(res)
    assert response_nonce(resp) == nonce, f"nonce not echoed for GET /{text}"
    assert_signed_by(resp, pki.cert(pki.signer_of(leaf)))
    check_single(resp, pki, leaf, algorithm)


@pytest.mark.parametrize("leaf", ["ec-good", "rsa-revoked", "ec-unknown"])
def test_get_percent_encoded_base64(pki, server, leaf):
    der, text, nonce = find_request(pki, leaf, hashes.SHA1(), "/+=")
    path = urllib.parse.quote(text, safe="")
    assert "%2F" in path and "%2B" in path and "%3D" in path
    resp = parse_ok_response(get_ocsp(server.port, path))
    assert response_nonce(resp) == nonce, f"nonce not echoed for GET /{path}"
    assert_signed_by(resp, pki.cert(pki.signer_of(leaf)))
    check_single(resp, pki, leaf, hashes.SHA1())


def test_get_with_urllib(pki, server):
    """The same thing through urllib (what an ordinary client library does)."""
    der, text, nonce = find_request(pki, "ec-good", hashes.SHA256(), "/")
    with urllib.request.urlopen(server.url + text, timeout=HTTP_TIMEOUT) as r:
        assert r.status == 200
        assert r.headers.get_content_type() == OCSP_CT
        body = r.read()
    from cryptography.x509 import ocsp
    resp = ocsp.load_der_ocsp_response(body)
    assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response_nonce(resp) == nonce
    check_single(resp, pki, "ec-good", hashes.SHA256())
