"""CRLs (issue 13) from the real ocspctl and ocspd, checked with `openssl crl`, `openssl verify
-crl_check` and python `cryptography`."""

from __future__ import annotations

import http.client
import json
import re
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import CRLEntryExtensionOID, ExtensionOID

from ocsp_e2e import HTTP_TIMEOUT, Ocspd, ctl, ctl_ok, load_cert, openssl, openssl_ok

REVOCATIONS = {  # leaf -> reason given to ocspctl (None: no --reason)
    "leaf-ec-03": "superseded",
    "leaf-ec-04": "cessationOfOperation",
    "leaf-ec-05": None,
}


@pytest.fixture()
def demo(bins, tmp_path):
    d = tmp_path / "demo"
    ctl_ok(bins, "demo", "--dir", d, "--url", "http://127.0.0.1:9/")
    for leaf, reason in REVOCATIONS.items():
        args = ["revoke", "--store", d / "store", "--cert", d / "leaves" / f"{leaf}.pem"]
        if reason:
            args += ["--reason", reason]
        ctl_ok(bins, *args)
    ctl_ok(bins, "revoke", "--store", d / "store", "--cert", d / "leaves" / "leaf-ec-06.pem",
           "--reason", "keyCompromise", "--invalidity-date", "2026-01-01T00:00:00Z")
    ctl_ok(bins, "hold", "--store", d / "store", "--cert", d / "leaves" / "leaf-ec-07.pem")
    return d


def serial(path: Path) -> int:
    return load_cert(path).serial_number


def generate(bins, demo: Path, *extra) -> tuple[Path, str]:
    out = demo / "ec.crl"
    proc = ctl_ok(bins, "crl", "generate", "--store", demo / "store", "--issuer", demo / "ec-root.pem",
                  "--out", out, *extra)
    return out, proc.stdout


def crl_number(crl: x509.CertificateRevocationList) -> int:
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def test_openssl_verifies_the_crl_and_shows_entries_with_reasons(bins, demo):
    out, stdout = generate(bins, demo)
    proc = openssl_ok("crl", "-inform", "DER", "-in", out, "-CAfile", demo / "ec-root.pem", "-noout", "-text")
    assert "verify OK" in proc.stderr + proc.stdout, proc.stderr
    text = proc.stdout
    assert "Version 2" in text and "X509v3 CRL Number" in text and "X509v3 Authority Key Identifier" in text
    for reason in ("Superseded", "Cessation Of Operation", "Key Compromise", "Certificate Hold"):
        assert reason in text, f"{reason} missing:\n{text}"
    assert "Invalidity Date" in text
    assert re.search(r"CRL #\d+ \(full\) .*: 6 entries", stdout), stdout  # 5 above + demo's leaf-ec-02


def test_openssl_verify_crl_check_rejects_revoked_and_accepts_good(bins, demo):
    out, _ = generate(bins, demo, "--format", "pem")
    for leaf, expect_ok in (("leaf-ec-01", True), ("leaf-ec-03", False), ("leaf-ec-07", False)):
        proc = openssl("verify", "-crl_check", "-CAfile", demo / "ec-root.pem", "-CRLfile", out,
                       demo / "leaves" / f"{leaf}.pem")
        if expect_ok:
            assert proc.returncode == 0 and ": OK" in proc.stdout, proc.stdout + proc.stderr
        else:
            assert proc.returncode != 0 and "certificate revoked" in proc.stdout + proc.stderr, proc


def test_cryptography_finds_exactly_the_revoked_serials(bins, demo):
    out, _ = generate(bins, demo)
    root = load_cert(demo / "ec-root.pem")
    crl = x509.load_der_x509_crl(out.read_bytes())
    assert crl.is_signature_valid(root.public_key())
    assert crl.issuer == root.subject
    revoked = {"leaf-ec-02", "leaf-ec-03", "leaf-ec-04", "leaf-ec-05", "leaf-ec-06", "leaf-ec-07"}
    for index in range(1, 9):
        leaf = f"leaf-ec-{index:02d}"
        entry = crl.get_revoked_certificate_by_serial_number(serial(demo / "leaves" / f"{leaf}.pem"))
        assert (entry is not None) == (leaf in revoked), leaf
    assert len(list(crl)) == len(revoked)
    reasons = {}
    for leaf in revoked:
        entry = crl.get_revoked_certificate_by_serial_number(serial(demo / "leaves" / f"{leaf}.pem"))
        try:
            reasons[leaf] = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.name
        except x509.ExtensionNotFound:
            reasons[leaf] = None
    assert reasons == {"leaf-ec-02": "key_compromise", "leaf-ec-03": "superseded",
                       "leaf-ec-04": "cessation_of_operation", "leaf-ec-05": None,
                       "leaf-ec-06": "key_compromise", "leaf-ec-07": "certificate_hold"}
    entry = crl.get_revoked_certificate_by_serial_number(serial(demo / "leaves" / "leaf-ec-06.pem"))
    invalidity = entry.extensions.get_extension_for_oid(CRLEntryExtensionOID.INVALIDITY_DATE).value
    assert invalidity.invalidity_date_utc.isoformat() == "2026-01-01T00:00:00+00:00"
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = x509.SubjectKeyIdentifier.from_public_key(root.public_key())
    assert aki.key_identifier == ski.digest
    assert (crl.next_update_utc - crl.last_update_utc).total_seconds() == 7 * 86400


def test_crl_numbers_increase_and_failures_consume_none(bins, demo, tmp_path):
    _, first = generate(bins, demo)
    n1 = int(re.search(r"CRL #(\d+)", first).group(1))
    store = demo / "store"
    stranger = tmp_path / "stranger"
    ctl_ok(bins, "demo", "--dir", stranger)  # a PKI this store does not know
    failures = [
        ("unknown issuer", ["--issuer", stranger / "ec-root.pem"]),
        ("unwritable output", ["--issuer", demo / "ec-root.pem", "--out", tmp_path / "missing" / "dir" / "x.crl"]),
        ("bad duration", ["--issuer", demo / "ec-root.pem", "--next-update", "soon"]),
    ]
    for what, args in failures:
        proc = ctl(bins, "crl", "generate", "--store", store, *args)
        assert proc.returncode != 0, what
        assert proc.stderr.startswith("Error: "), f"{what}: {proc.stderr!r}"
    _, second = generate(bins, demo)
    n2 = int(re.search(r"CRL #(\d+)", second).group(1))
    assert n2 == n1 + 1, f"a failed run consumed a CRL number: {n1} then {n2}"


def test_issuer_without_ca_key_is_refused(bins, tmp_path):
    demo = tmp_path / "demo"
    ctl_ok(bins, "demo", "--dir", demo)
    store = tmp_path / "store"
    ctl_ok(bins, "init", "--store", store)
    ctl_ok(bins, "issuer", "add", "--store", store, "--cert", demo / "ec-root.pem",
           "--responder-cert", demo / "responder.pem", "--responder-key", demo / "responder.key")
    proc = ctl(bins, "crl", "generate", "--store", store, "--issuer", demo / "ec-root.pem")
    assert proc.returncode != 0 and "no CA key" in proc.stderr, proc.stderr


def test_delta_crl_lists_new_revocations_and_released_holds(bins, demo):
    # CRL times have one-second resolution and a delta repeats changes made in its base's second,
    # so keep the fixture's changes, the base and the new changes in different seconds.
    time.sleep(1.1)
    generate(bins, demo)
    time.sleep(1.1)
    ctl_ok(bins, "unhold", "--store", demo / "store", "--cert", demo / "leaves" / "leaf-ec-07.pem")
    ctl_ok(bins, "revoke", "--store", demo / "store", "--cert", demo / "leaves" / "leaf-ec-08.pem",
           "--reason", "affiliationChanged")
    out = demo / "delta.crl"
    ctl_ok(bins, "crl", "generate", "--store", demo / "store", "--issuer", demo / "ec-root.pem", "--delta", "--out", out)
    proc = openssl_ok("crl", "-inform", "DER", "-in", out, "-CAfile", demo / "ec-root.pem", "-noout", "-text")
    assert "verify OK" in proc.stderr + proc.stdout and "Delta CRL Indicator" in proc.stdout
    crl = x509.load_der_x509_crl(out.read_bytes())
    assert crl.is_signature_valid(load_cert(demo / "ec-root.pem").public_key())
    indicator = crl.extensions.get_extension_for_class(x509.DeltaCRLIndicator)
    assert indicator.critical
    entries = {e.serial_number: e.extensions.get_extension_for_class(x509.CRLReason).value.reason.name for e in crl}
    assert entries == {serial(demo / "leaves" / "leaf-ec-08.pem"): "affiliation_changed",
                       serial(demo / "leaves" / "leaf-ec-07.pem"): "remove_from_crl"}
    assert indicator.value.crl_number < crl_number(crl)


def test_sharded_crls_have_issuing_distribution_points_and_cover_every_revocation(bins, demo):
    out = demo / "shards"
    ctl_ok(bins, "crl", "generate", "--store", demo / "store", "--issuer", demo / "ec-root.pem", "--shards", "3",
           "--out", out, "--base-url", "http://crl.example.test/")
    root = load_cert(demo / "ec-root.pem")
    seen = set()
    for index in range(3):
        crl = x509.load_der_x509_crl((out / f"{index}.crl").read_bytes())
        assert crl.is_signature_valid(root.public_key())
        idp = crl.extensions.get_extension_for_oid(ExtensionOID.ISSUING_DISTRIBUTION_POINT)
        assert idp.critical
        assert idp.value.full_name[0].value.startswith("http://crl.example.test/crl/")
        assert idp.value.full_name[0].value.endswith(f"/{index}.crl")
        seen |= {e.serial_number for e in crl}
    assert len(seen) == 6


def test_ocspd_serves_crls_with_caching_and_publishes_a_delta_after_revocation(bins, demo, log_dir):
    server = Ocspd(bins, demo / "store", log_dir, extra=["--crl-debounce", "1s"])
    server.wait_ready()
    try:
        url = load_cert(demo / "leaves" / "leaf-ec-01.pem").extensions.get_extension_for_class(
            x509.CRLDistributionPoints).value[0].full_name[0].value
        path = "/" + url.split("/", 3)[3]
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=HTTP_TIMEOUT)
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        assert r.status == 200 and r.getheader("Content-Type") == "application/pkix-crl"
        assert r.getheader("ETag") and r.getheader("Last-Modified") and "max-age=" in r.getheader("Cache-Control")
        crl = x509.load_der_x509_crl(body)
        assert crl.is_signature_valid(load_cert(demo / "ec-root.pem").public_key())
        conn.request("GET", path, headers={"If-None-Match": r.getheader("ETag")})
        r2 = conn.getresponse()
        assert r2.status == 304 and r2.read() == b""
        conn.request("GET", "/crl/ffffffffffffffff.crl")
        r3 = conn.getresponse()
        assert r3.status == 404
        r3.read()

        target = serial(demo / "leaves" / "leaf-ec-08.pem")
        ctl_ok(bins, "revoke", "--store", demo / "store", "--cert", demo / "leaves" / "leaf-ec-08.pem")
        delta_path = path.replace(".crl", "-delta.crl")
        deadline = time.monotonic() + 10
        found = False
        while time.monotonic() < deadline and not found:
            conn.request("GET", delta_path)
            r = conn.getresponse()
            data = r.read()
            if r.status == 200:
                found = x509.load_der_x509_crl(data).get_revoked_certificate_by_serial_number(target) is not None
            if not found:
                time.sleep(0.25)
        conn.close()
        assert found, "ocspd did not publish a delta CRL with the new revocation within 10 s"
    finally:
        server.stop()


def crl_urls(crl: x509.CertificateRevocationList) -> list[str]:
    """Every URL a CRL names: its Freshest CRL and its Issuing Distribution Point."""
    urls = []
    for ext in crl.extensions:
        if isinstance(ext.value, x509.FreshestCRL):
            urls += [n.value for dp in ext.value for n in dp.full_name or []]
        if isinstance(ext.value, x509.IssuingDistributionPoint):
            urls += [n.value for n in ext.value.full_name or []]
    return urls


def test_a_crl_names_no_url_nobody_configured(bins, demo):
    """Issue 32: without --base-url, `crl generate` used to sign a Freshest CRL of
    http://127.0.0.1:8080/…; now it names no URL and says so once."""
    out, stdout = generate(bins, demo)
    crl = x509.load_der_x509_crl(out.read_bytes())
    assert crl_urls(crl) == [], crl_urls(crl)
    with pytest.raises(x509.ExtensionNotFound):
        crl.extensions.get_extension_for_class(x509.FreshestCRL)
    assert stdout.count("no --base-url") == 1, stdout
    text = openssl_ok("crl", "-inform", "DER", "-in", out, "-noout", "-text").stdout
    assert "127.0.0.1" not in text and "Freshest CRL" not in text, text

    out, stdout = generate(bins, demo, "--base-url", "https://crl.example.test/pki/")
    urls = crl_urls(x509.load_der_x509_crl(out.read_bytes()))
    assert len(urls) == 1 and urls[0].startswith("https://crl.example.test/pki/crl/") and urls[0].endswith("-delta.crl"), urls
    assert "no --base-url" not in stdout

    proc = ctl(bins, "crl", "generate", "--store", demo / "store", "--issuer", demo / "ec-root.pem", "--shards", "4",
               "--out", demo / "shards")
    assert proc.returncode == 2 and "--shards needs --base-url" in proc.stderr, proc.stderr


def test_ocspd_serves_crls_naming_only_its_public_url(bins, demo, log_dir):
    """ocspd used to put its listen address (127.0.0.1:<port>) in every CRL it signs."""
    slug = json.loads(ctl_ok(bins, "issuer", "show", "--store", demo / "store", "--issuer", demo / "ec-root.pem",
                             "--json").stdout)["slug"]

    def served_crl(server: Ocspd) -> x509.CertificateRevocationList:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=HTTP_TIMEOUT)
        conn.request("GET", f"/crl/{slug}.crl")
        r = conn.getresponse()
        body = r.read()
        conn.close()
        assert r.status == 200, r.status
        return x509.load_der_x509_crl(body)

    def next_crl(server: Ocspd) -> x509.CertificateRevocationList:
        """The next complete CRL ocspd makes (every 2 s here; the one in the store came from `demo`)."""
        before = crl_number(served_crl(server))
        deadline = time.monotonic() + 30
        while crl_number(crl := served_crl(server)) <= before:
            assert time.monotonic() < deadline, "ocspd made no new CRL within 30 s" + server.diagnostics()
            time.sleep(0.3)
        return crl

    server = Ocspd(bins, demo / "store", log_dir, extra=["--crl-interval", "2s"])
    try:
        server.wait_ready()
        assert crl_urls(next_crl(server)) == []
        assert server.stderr_text().count("no crl.public-url") == 1, server.stderr_text()
    finally:
        server.stop()
    server = Ocspd(bins, demo / "store", log_dir, extra=["--crl-interval", "2s", "--public-url", "http://crl.example.test/"])
    try:
        server.wait_ready()
        urls = crl_urls(next_crl(server))
        assert urls == [f"http://crl.example.test/crl/{slug}-delta.crl"], urls
        assert "no crl.public-url" not in server.stderr_text()
    finally:
        server.stop()
