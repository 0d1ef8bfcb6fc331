"""A revocation made with ocspctl while ocspd runs shows in the very next response."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from cryptography.hazmat.primitives import hashes

from ocsp_e2e import (
    SERVER_VALIDITY, assert_openssl_status, assert_signed_by, build_request, check_certid,
    check_status, check_times, ctl_ok, ctl_status_json, openssl, parse_ok_response, post_ocsp,
    response_nonce, utcnow,
)


def query(pki, server, leaf):
    nonce = os.urandom(16)
    der = build_request(pki.cert(leaf), pki.cert(pki.issuer_of(leaf)), hashes.SHA256(), nonce=nonce)
    resp = parse_ok_response(post_ocsp(server.port, der))
    assert response_nonce(resp) == nonce
    assert_signed_by(resp, pki.cert(pki.signer_of(leaf)))
    check_certid(resp, leaf, pki.cert(leaf), pki.cert(pki.issuer_of(leaf)), hashes.SHA256())
    check_times(resp, leaf, SERVER_VALIDITY)
    return resp


@pytest.mark.parametrize("leaf,reason,when", [
    ("ec-live", "cessationOfOperation", "2026-02-03T04:05:06Z"),
    ("rsa-live", "affiliationChanged", None),
])
def test_revoke_while_running(bins, pki, store, server, leaf, reason, when):
    before = query(pki, server, leaf)
    check_status(before, leaf + " before revoke", "good")

    args = ["revoke", "--store", store, "--cert", pki.path(leaf), "--reason", reason]
    if when:
        args += ["--time", when]
    t0 = utcnow().replace(microsecond=0)
    ctl_ok(bins, *args)
    t1 = utcnow()

    # no sleep: the very next response must already say revoked
    after = query(pki, server, leaf)
    if when:
        rev = dt.datetime.strptime(when, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
        check_status(after, leaf + " after revoke", "revoked", reason, rev_time=rev)
    else:
        check_status(after, leaf + " after revoke", "revoked", reason,
                     rev_window=(t0 - dt.timedelta(seconds=2), t1 + dt.timedelta(seconds=2)))

    # openssl agrees, and ocspctl status reports the same thing
    cert = str(pki.path(leaf))
    proc = openssl("ocsp", "-issuer", pki.path(pki.issuer_of(leaf)), "-cert", cert,
                   "-url", server.url, "-timeout", "10", *pki.verify_args(leaf))
    assert_openssl_status(proc, cert, "revoked", reason=reason)
    js = ctl_status_json(bins, store, "--cert", pki.path(leaf))
    assert js["status"] == "revoked" and js.get("reason") == reason, js
    if when:
        assert js["revocationTime"] == when, js
