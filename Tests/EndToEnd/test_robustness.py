"""Bad input, unknown issuers and HTTP keep-alive."""

from __future__ import annotations

import base64
import http.client
import os
import random

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp

from ocsp_e2e import (
    HTTP_TIMEOUT, OCSP_REQ_CT, assert_rejected, assert_signed_by, b64, build_request,
    check_single, get_ocsp, http_request, parse_ok_response, post_ocsp, response_nonce,
)

RNG = random.Random(6960)


def good_request_still_answered(pki, server):
    assert server.proc.poll() is None, "ocspd died" + server.diagnostics()
    nonce = os.urandom(16)
    der = build_request(pki.cert("ec-revoked"), pki.cert("ec-root"), nonce=nonce)
    resp = parse_ok_response(post_ocsp(server.port, der))
    assert response_nonce(resp) == nonce
    check_single(resp, pki, "ec-revoked", hashes.SHA1())


def _valid(pki):
    return build_request(pki.cert("ec-good"), pki.cert("ec-root"), nonce=b"0123456789abcdef")


BAD_BODIES = {
    "empty": lambda pki: b"",
    "truncated-half": lambda pki: _valid(pki)[: len(_valid(pki)) // 2],
    "truncated-last-byte": lambda pki: _valid(pki)[:-1],
    "header-only": lambda pki: _valid(pki)[:2],
    "trailing-garbage": lambda pki: _valid(pki) + b"\x00\x01garbage",
    "random-1": lambda pki: bytes([0x30]),
    "random-17": lambda pki: RNG.randbytes(17),
    "random-600": lambda pki: RNG.randbytes(600),
    "sequence-of-junk": lambda pki: bytes([0x30, 0x06, 0x02, 0x01, 0x05, 0x04, 0x01, 0xFF]),
    "certificate-not-request": lambda pki: base64.b64decode(
        b"".join(pki.path("ec-good").read_bytes().splitlines()[1:-1])),
    "text": lambda pki: b"hello, this is not DER\n",
}


@pytest.mark.parametrize("name", list(BAD_BODIES))
def test_post_garbage_rejected(pki, server, name):
    body = BAD_BODIES[name](pki)
    res = http_request(server.port, "POST", "/", body, {"Content-Type": OCSP_REQ_CT})
    assert_rejected(res, f"POST {name}")
    good_request_still_answered(pki, server)


BAD_PATHS = {
    "not-base64": "/!!!not*base64!!!",
    "bad-percent": "/%ZZ%",
    "valid-b64-not-der": "/" + base64.b64encode(b"this is not an OCSP request").decode(),
    "short-b64": "/AAAA",
    "only-padding": "/====",
    "random-der-ish": "/" + base64.b64encode(bytes([0x30, 0x82, 0xFF, 0xFF]) + b"\x00" * 8).decode(),
}


@pytest.mark.parametrize("name", list(BAD_PATHS))
def test_get_garbage_rejected(pki, server, name):
    res = http_request(server.port, "GET", BAD_PATHS[name])
    assert_rejected(res, f"GET {BAD_PATHS[name]}")
    good_request_still_answered(pki, server)


@pytest.mark.parametrize("how", ["truncated", "percent-truncated"])
def test_get_truncated_request_rejected(pki, server, how):
    text = b64(_valid(pki)[:-3])
    path = "/" + (text if how == "truncated" else text.replace("/", "%2F").replace("+", "%2B").replace("=", "%3D"))
    assert_rejected(http_request(server.port, "GET", path), f"GET {path}")
    good_request_still_answered(pki, server)


@pytest.mark.parametrize("algorithm", [hashes.SHA1(), hashes.SHA256()], ids=["sha1", "sha256"])
@pytest.mark.parametrize("method", ["POST", "GET"])
def test_unknown_issuer_unauthorized(pki, server, method, algorithm):
    der = build_request(pki.cert("other-leaf"), pki.cert("other-ca"), algorithm)
    res = post_ocsp(server.port, der) if method == "POST" else get_ocsp(server.port, b64(der))
    assert res.status == 200 or 400 <= res.status < 500, f"unexpected HTTP status {res}"
    resp = ocsp.load_der_ocsp_response(res.body)
    assert resp.response_status == ocsp.OCSPResponseStatus.UNAUTHORIZED, \
        f"CA not in the store must give unauthorized, got {resp.response_status}"
    good_request_still_answered(pki, server)


def test_keepalive_same_connection(pki, server):
    """Several POST and GET requests on one persistent HTTP/1.1 connection."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=HTTP_TIMEOUT)
    try:
        local = None
        plan = ["ec-good", "rsa-revoked", "ec-unknown", "rsa-good", "ec-revoked", "rsa-unknown"]
        for i, leaf in enumerate(plan):
            nonce = os.urandom(16)
            der = build_request(pki.cert(leaf), pki.cert(pki.issuer_of(leaf)), nonce=nonce)
            res = post_ocsp(server.port, der, conn=conn) if i % 2 == 0 else get_ocsp(server.port, b64(der), conn=conn)
            resp = parse_ok_response(res)
            assert response_nonce(resp) == nonce
            assert_signed_by(resp, pki.cert(pki.signer_of(leaf)))
            check_single(resp, pki, leaf, hashes.SHA1())
            assert conn.sock is not None, f"server closed the connection after request {i + 1} ({res.headers})"
            name = conn.sock.getsockname()
            if local is None:
                local = name
            assert name == local, f"request {i + 1} needed a new TCP connection"
    finally:
        conn.close()


def test_keepalive_after_bad_request(pki, server):
    """good, bad, good, ... on one HTTPConnection object.  After a rejected
    request the server may keep the connection or close it, but if it closes
    it must say so (`Connection: close`), so that the client can reconnect."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=HTTP_TIMEOUT)
    good = build_request(pki.cert("rsa-good"), pki.cert("rsa-ca"))
    try:
        for round_ in range(3):
            try:
                res = post_ocsp(server.port, good, conn=conn) if round_ % 2 == 0 \
                    else get_ocsp(server.port, b64(good), conn=conn)
            except (http.client.HTTPException, ConnectionError) as e:
                pytest.fail(f"round {round_}: good request on the kept-alive connection failed ({e!r}); "
                            "did the server close it after the previous 4xx without 'Connection: close'?")
            check_single(parse_ok_response(res), pki, "rsa-good", hashes.SHA1())
            res = http_request(server.port, "POST", "/", b"\x30\x03\x02\x01",
                               {"Content-Type": OCSP_REQ_CT}, conn=conn)
            assert_rejected(res, f"round {round_}: truncated POST on a kept-alive connection")
    finally:
        conn.close()
    good_request_still_answered(pki, server)
