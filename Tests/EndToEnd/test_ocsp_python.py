"""ocspd responses decoded and checked field by field with python `cryptography`."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives import hashes

from ocsp_e2e import (
    EXPECTED, SKEW, _split_request, assert_signed_by, build_multi_request, build_request, check_single,
    der_children, der_read, der_tlv, parse_ok_response, post_ocsp, response_nonce, utcnow,
)


@pytest.mark.parametrize("algorithm", [hashes.SHA1(), hashes.SHA256()], ids=["sha1", "sha256"])
@pytest.mark.parametrize("leaf", list(EXPECTED))
def test_single_certid_response(pki, server, leaf, algorithm):
    nonce = os.urandom(16)
    der = build_request(pki.cert(leaf), pki.cert(pki.issuer_of(leaf)), algorithm, nonce=nonce)
    resp = parse_ok_response(post_ocsp(server.port, der))

    assert_signed_by(resp, pki.cert(pki.signer_of(leaf)))
    assert response_nonce(resp) == nonce, "request nonce not echoed"
    assert resp.produced_at_utc <= utcnow() + SKEW
    singles = list(resp.responses)
    assert len(singles) == 1, f"one CertID asked, {len(singles)} SingleResponses returned"
    check_single(resp, pki, leaf, algorithm)


def test_nonce_is_per_request(pki, server):
    """Two requests with different nonces: each response carries its own nonce."""
    cert, issuer = pki.cert("rsa-good"), pki.cert("rsa-ca")
    seen = []
    for _ in range(2):
        nonce = os.urandom(20)
        resp = parse_ok_response(post_ocsp(server.port, build_request(cert, issuer, nonce=nonce)))
        assert response_nonce(resp) == nonce
        seen.append(nonce)
    assert seen[0] != seen[1]


def test_request_without_nonce(pki, server):
    der = build_request(pki.cert("ec-good"), pki.cert("ec-root"))
    resp = parse_ok_response(post_ocsp(server.port, der))
    assert_signed_by(resp, pki.cert("responder"))
    check_single(resp, pki, "ec-good", hashes.SHA1())


@pytest.mark.parametrize("items", [
    [("ec-good", hashes.SHA1()), ("ec-revoked", hashes.SHA256()), ("ec-unknown", hashes.SHA1())],
    [("rsa-revoked", hashes.SHA256()), ("rsa-good", hashes.SHA256()), ("rsa-unknown", hashes.SHA256())],
    [("ec-good-serial", hashes.SHA1()), ("ec-revoked-noreason", hashes.SHA1()), ("ec-good", hashes.SHA256())],
], ids=["ec-mixed-hashes", "rsa-sha256", "ec-more"])
def test_three_certids_in_one_request(pki, server, items):
    nonce = os.urandom(16)
    der = build_multi_request([(pki.cert(l), pki.cert(pki.issuer_of(l)), a) for l, a in items], nonce=nonce)
    resp = parse_ok_response(post_ocsp(server.port, der))
    assert_signed_by(resp, pki.cert(pki.signer_of(items[0][0])))
    assert response_nonce(resp) == nonce

    singles = list(resp.responses)
    assert len(singles) == 3, f"3 CertIDs asked, {len(singles)} SingleResponses returned"
    by_key = {(s.serial_number, s.hash_algorithm.name): s for s in singles}
    for leaf, algo in items:
        key = (pki.cert(leaf).serial_number, algo.name)
        assert key in by_key, f"no SingleResponse for {leaf} ({algo.name}); got {sorted(by_key)}"
        check_single(by_key[key], pki, leaf, algo)


def _certid_without_hash_parameters(req_der: bytes) -> tuple[bytes, bytes]:
    """Rewrite the single CertID of a request so its AlgorithmIdentifier omits the NULL
    parameters (RFC 5754 lets SHA-2 ids do so; some clients do it for SHA-1 too).
    -> (new request DER, the new CertID TLV)."""
    requests, exts = _split_request(req_der)
    assert len(requests) == 1
    _, request, _ = der_read(requests[0])
    (_, cert_id, _), *rest = der_children(request)
    (_, algorithm, _), *hashes_and_serial = der_children(cert_id)
    (_, _, oid), *params = der_children(algorithm)
    assert params and params[0][2] == b"\x05\x00", "expected NULL hash parameters to remove"
    new_cert_id = der_tlv(0x30, der_tlv(0x30, oid) + b"".join(full for _, _, full in hashes_and_serial))
    new_request = der_tlv(0x30, new_cert_id + b"".join(full for _, _, full in rest))
    tbs = der_tlv(0x30, new_request) + (exts or b"")
    return der_tlv(0x30, der_tlv(0x30, tbs)), new_cert_id


def _response_cert_id(resp_der: bytes) -> bytes:
    """The CertID TLV of the first SingleResponse, as the responder encoded it."""
    _, response, _ = der_read(resp_der)
    (_, _, _), (_, response_bytes, _) = der_children(response)
    (_, inner, _), = der_children(response_bytes)
    (_, _, _), (_, basic_der, _) = der_children(inner)
    _, basic, _ = der_read(basic_der)
    (_, tbs, _), *_ = der_children(basic)
    responses = [inner for tag, inner, _ in der_children(tbs) if tag == 0x30][0]
    (_, single, _), *_ = der_children(responses)
    return der_children(single)[0][2]


@pytest.mark.parametrize("algorithm", [hashes.SHA1(), hashes.SHA256()], ids=["sha1", "sha256"])
@pytest.mark.parametrize("leaf", ["ec-good", "rsa-revoked"])
def test_certid_echoed_byte_for_byte_without_hash_parameters(pki, server, leaf, algorithm):
    """A nonce request is signed live from the CertID as received: one whose AlgorithmIdentifier
    lacks parameters must come back encoded the same way, not re-encoded with NULL."""
    nonce = os.urandom(16)
    original = build_request(pki.cert(leaf), pki.cert(pki.issuer_of(leaf)), algorithm, nonce=nonce)
    der, cert_id = _certid_without_hash_parameters(original)
    res = post_ocsp(server.port, der)
    resp = parse_ok_response(res)
    assert response_nonce(resp) == nonce
    assert_signed_by(resp, pki.cert(pki.signer_of(leaf)))
    check_single(resp, pki, leaf, algorithm)
    assert _response_cert_id(res.body) == cert_id, "CertID not echoed as received"
