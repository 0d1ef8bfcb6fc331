"""Every RFC 5280 reason name given to `ocspctl revoke` comes out right in OCSP
(python `cryptography` and `openssl ocsp` both decode the CRLReason enum)."""

from __future__ import annotations

import hashlib
import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from ocsp_e2e import (
    REASON_FLAG, SERVER_VALIDITY, assert_openssl_status, assert_signed_by, check_status,
    check_times, ctl_ok, describe, openssl, parse_ok_response, parse_time, post_ocsp,
    response_nonce, spki_key_hash, start_ocspd,
)

REASONS = list(REASON_FLAG)
ISSUERS = {"ec": ("ec-root", "responder"), "rsa": ("rsa-ca", "rsa-ca")}


def _serial(i: int) -> int:
    return 0x4000 + i


def _time(i: int) -> str:
    return f"2025-0{i % 9 + 1}-1{i % 9}T0{i % 9}:30:00Z"


@pytest.fixture(scope="module")
def reason_server(bins, pki, tmp_path_factory, log_dir):
    s = tmp_path_factory.mktemp("reasons") / "store"
    p = pki.path
    ctl_ok(bins, "init", "--store", s)
    ctl_ok(bins, "issuer", "add", "--store", s, "--cert", p("ec-root"),
           "--responder-cert", p("responder"), "--responder-key", p("responder.key"))
    ctl_ok(bins, "issuer", "add", "--store", s, "--cert", p("rsa-ca"), "--key", p("rsa-ca.key"))
    for kind, (ca, _) in ISSUERS.items():
        for i, reason in enumerate(REASONS):
            serial = format(_serial(i), "X")
            ctl_ok(bins, "cert", "add", "--store", s, "--issuer", p(ca), "--serial", serial)
            ctl_ok(bins, "revoke", "--store", s, "--issuer", p(ca), "--serial", serial,
                   "--reason", reason, "--time", _time(i))
    d = start_ocspd(bins, s, log_dir, validity=SERVER_VALIDITY)
    try:
        yield d
    finally:
        d.stop()


def _request_by_serial(issuer: x509.Certificate, serial: int, nonce: bytes) -> bytes:
    name_hash = hashlib.sha1(issuer.subject.public_bytes()).digest()
    key_hash = spki_key_hash(issuer)
    req = (ocsp.OCSPRequestBuilder()
           .add_certificate_by_hash(name_hash, key_hash, serial, hashes.SHA1())
           .add_extension(x509.OCSPNonce(nonce), critical=False)
           .build())
    return req.public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize("kind", list(ISSUERS))
@pytest.mark.parametrize("i,reason", list(enumerate(REASONS)), ids=REASONS)
def test_reason_in_ocsp(pki, reason_server, kind, i, reason):
    ca, signer = ISSUERS[kind]
    nonce = os.urandom(16)
    resp = parse_ok_response(post_ocsp(reason_server.port,
                                       _request_by_serial(pki.cert(ca), _serial(i), nonce)))
    assert response_nonce(resp) == nonce
    assert_signed_by(resp, pki.cert(signer))
    assert resp.serial_number == _serial(i)
    check_status(resp, f"{kind} serial {_serial(i):X} ({reason})", "revoked", reason,
                 rev_time=parse_time(_time(i)))
    check_times(resp, reason, SERVER_VALIDITY)


# OpenSSL 3.0's OCSP_crl_reason_str() has no names for privilegeWithdrawn (9) and
# aACompromise (10); it prints "Reason: (UNKNOWN)" for them.  The python test
# above checks their encoding; here openssl only has to see a revoked status
# with some reason.
OPENSSL_UNNAMED = {"privilegeWithdrawn", "aACompromise"}


@pytest.mark.parametrize("i,reason", list(enumerate(REASONS)), ids=REASONS)
def test_reason_openssl(pki, reason_server, i, reason):
    serial_arg = f"0x{_serial(i):X}"
    proc = openssl("ocsp", "-issuer", pki.path("ec-root"), "-serial", serial_arg,
                   "-url", reason_server.url, "-timeout", "10",
                   "-CAfile", pki.path("ec-root"), "-VAfile", pki.path("responder"))
    if reason == "unspecified":
        assert_openssl_status(proc, serial_arg, "revoked", expect_no_reason=True)
    elif reason in OPENSSL_UNNAMED:
        assert_openssl_status(proc, serial_arg, "revoked")
        assert "\tReason: " in proc.stdout, "revocation reason missing:" + describe(proc)
    else:
        assert_openssl_status(proc, serial_arg, "revoked", reason=reason)
