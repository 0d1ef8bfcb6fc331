"""`ocspctl revoke --invalidity-date T`: the OCSP response carries T as the RFC 5280 §5.3.2
invalidityDate singleExtension (OID 2.5.29.24, GeneralizedTime, non-critical; RFC 6960 §4.4.5),
whichever way ocspd answers (cached GET/POST, nonce, several CertIDs, after presign). Checked with
python `cryptography` and `openssl ocsp -resp_text`; a revocation without one carries none."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp

from ocsp_e2e import (
    REASON_FLAG, b64, build_multi_request, build_request, ctl_ok, describe, get_ocsp, load_cert, openssl,
    parse_ok_response, post_ocsp, response_nonce, start_with as start, verify_signature,
)

INVALIDITY = "2026-01-02T03:04:05Z"
INVALIDITY_DT = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
# `openssl ocsp -resp_text` prints the extension as "Invalidity Date: \n    Jan  2 03:04:05 2026 GMT"
INVALIDITY_OPENSSL = "Jan  2 03:04:05 2026 GMT"
REVOKED_AT = "2026-01-05T00:00:00Z"

# leaf -> (issuer, signer) in an `ocspctl demo` directory
LEAVES = {
    "leaf-ec-03": ("ec-root", "responder"),   # delegated responder
    "leaf-rsa-01": ("rsa-ca", "rsa-ca"),      # the CA signs its own responses
}
NO_DATE = "leaf-ec-02"                         # revoked (keyCompromise) by `ocspctl demo`, no invalidity date


def request_for(demo: Path, leaf: str, nonce: bytes | None = None) -> bytes:
    issuer = LEAVES.get(leaf, ("ec-root", "responder"))[0]
    return build_request(load_cert(demo / "leaves" / f"{leaf}.pem"), load_cert(demo / f"{issuer}.pem"), nonce=nonce)


def revoke_with_invalidity_date(bins, demo: Path) -> None:
    for leaf in LEAVES:
        ctl_ok(bins, "revoke", "--store", demo / "store", "--cert", demo / "leaves" / f"{leaf}.pem",
               "--reason", "keyCompromise", "--time", REVOKED_AT, "--invalidity-date", INVALIDITY)


def invalidity_extension(single) -> x509.Extension[x509.InvalidityDate] | None:
    try:
        return single.single_extensions.get_extension_for_class(x509.InvalidityDate)
    except x509.ExtensionNotFound:
        return None


def check_invalidity_date(single, what: str) -> None:
    assert single.certificate_status == ocsp.OCSPCertStatus.REVOKED, f"{what}: {single.certificate_status}"
    assert single.revocation_reason == REASON_FLAG["keyCompromise"], f"{what}: {single.revocation_reason}"
    ext = invalidity_extension(single)
    assert ext is not None, f"{what}: no invalidityDate singleExtension in {list(single.single_extensions)}"
    assert isinstance(ext.value, x509.InvalidityDate), f"{what}: {ext.value!r}"
    assert ext.value.invalidity_date_utc == INVALIDITY_DT, f"{what}: invalidityDate {ext.value.invalidity_date_utc}"
    assert not ext.critical, f"{what}: the invalidityDate extension must be non-critical"
    assert len(single.single_extensions) == 1, f"{what}: extra singleExtensions {list(single.single_extensions)}"


def openssl_resp_text(tmp_path: Path, name: str, der: bytes) -> str:
    path = tmp_path / f"{name}.der"
    path.write_bytes(der)
    proc = openssl("ocsp", "-respin", path, "-resp_text", "-noverify")
    assert proc.returncode == 0, "openssl ocsp -respin failed:" + describe(proc)
    return proc.stdout


def assert_openssl_shows_invalidity_date(text: str, what: str) -> None:
    lines = [line.strip() for line in text.splitlines()]
    assert "Invalidity Date:" in lines, f"{what}: openssl shows no Invalidity Date:\n{text}"
    after = lines[lines.index("Invalidity Date:") + 1]
    assert after == INVALIDITY_OPENSSL, f"{what}: openssl shows invalidity date {after!r}:\n{text}"


def test_cached_responses_carry_the_invalidity_date(bins, demo, log_dir, tmp_path):
    """Revoked before ocspd starts: the cached response (signed by `ocspctl revoke`) served by GET
    and POST, checked by cryptography and openssl."""
    revoke_with_invalidity_date(bins, demo)
    server = start(bins, demo / "store", log_dir)
    try:
        for leaf, (_, signer) in LEAVES.items():
            der = request_for(demo, leaf)
            get = get_ocsp(server.port, b64(der))
            post = post_ocsp(server.port, der)
            assert get.body == post.body, f"{leaf}: GET and POST differ"
            resp = parse_ok_response(get)
            verify_signature(resp, load_cert(demo / f"{signer}.pem"))
            check_invalidity_date(resp, leaf)
            text = openssl_resp_text(tmp_path, leaf, get.body)
            assert_openssl_shows_invalidity_date(text, leaf)
            assert "Reason: keyCompromise" in text, text
    finally:
        server.stop()


def test_live_responses_carry_the_invalidity_date(bins, demo, log_dir, tmp_path):
    """Signed by ocspd for the request: a nonce (one CertID: a template), several CertIDs (the
    full build, one of them revoked without a date, one good), and again after presign."""
    revoke_with_invalidity_date(bins, demo)
    server = start(bins, demo / "store", log_dir)
    try:
        for leaf, (_, signer) in LEAVES.items():
            for attempt in range(3):  # a template reused
                nonce = os.urandom(16)
                res = post_ocsp(server.port, request_for(demo, leaf, nonce=nonce))
                resp = parse_ok_response(res)
                assert response_nonce(resp) == nonce
                verify_signature(resp, load_cert(demo / f"{signer}.pem"))
                check_invalidity_date(resp, f"{leaf} with a nonce ({attempt})")
            assert_openssl_shows_invalidity_date(openssl_resp_text(tmp_path, f"{leaf}-nonce", res.body), leaf)

        root = load_cert(demo / "ec-root.pem")
        names = ["leaf-ec-03", NO_DATE, "leaf-ec-01"]
        nonce = os.urandom(16)
        multi = build_multi_request(
            [(load_cert(demo / "leaves" / f"{n}.pem"), root, hashes.SHA1()) for n in names], nonce=nonce)
        res = post_ocsp(server.port, multi)
        resp = parse_ok_response(res)
        assert response_nonce(resp) == nonce
        verify_signature(resp, load_cert(demo / "responder.pem"))
        singles = list(resp.responses)
        assert [s.serial_number for s in singles] == [load_cert(demo / "leaves" / f"{n}.pem").serial_number
                                                        for n in names]
        assert [s.certificate_status for s in singles] == [ocsp.OCSPCertStatus.REVOKED] * 2 + [ocsp.OCSPCertStatus.GOOD]
        # cryptography exposes singleExtensions only for a one-response OCSPResponse: read each
        # SingleResponse's from openssl's text, one "Certificate ID:" block per SingleResponse.
        text = openssl_resp_text(tmp_path, "multi", res.body)
        responses = text.split("Response Extensions:")[0]
        blocks = responses.split("Certificate ID:")[1:]
        assert len(blocks) == 3, text
        assert_openssl_shows_invalidity_date(blocks[0], "leaf-ec-03 among several CertIDs")
        assert "Invalidity Date" not in blocks[1], f"{NO_DATE}: invalidityDate without one in the store:\n{text}"
        assert "Single Extensions" not in blocks[2], f"a good SingleResponse carries singleExtensions:\n{text}"
    finally:
        server.stop()

    # Presign (what the refresher does too) re-signs every cached response: the date stays.
    ctl_ok(bins, "presign", "--store", demo / "store")
    server = start(bins, demo / "store", log_dir)
    try:
        for leaf in LEAVES:
            check_invalidity_date(parse_ok_response(get_ocsp(server.port, b64(request_for(demo, leaf)))),
                                  f"{leaf} after presign")
    finally:
        server.stop()


def test_revocation_without_invalidity_date_has_none(bins, demo, log_dir, tmp_path):
    server = start(bins, demo / "store", log_dir)
    try:
        for nonce in (None, os.urandom(16)):
            res = post_ocsp(server.port, request_for(demo, NO_DATE, nonce=nonce))
            resp = parse_ok_response(res)
            assert resp.certificate_status == ocsp.OCSPCertStatus.REVOKED
            assert resp.revocation_reason == REASON_FLAG["keyCompromise"]
            assert invalidity_extension(resp) is None, f"{NO_DATE}: unexpected invalidityDate"
            assert len(resp.single_extensions) == 0, f"{NO_DATE}: {list(resp.single_extensions)}"
            assert "Invalidity Date" not in openssl_resp_text(tmp_path, f"no-date-{nonce is not None}", res.body)
    finally:
        server.stop()
