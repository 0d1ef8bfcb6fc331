"""Revocation filters (issue 24): `ocspctl filter export|verify|check`, ocspd's /filter/ endpoint
and the relying party's `filter:` policy key, checked by code nobody here wrote: Mozilla's
`filtercascade` reads every filter, `openssl cms` verifies the signed metadata, python
`cryptography` makes the keys from the certificates."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

import filtercascade
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ocsp_e2e import Ocspd, ctl, ctl_ok, describe, load_cert, openssl, openssl_ok

POPULATION = 100_000
REVOKED_EVERY = 100  # 1 %


def filter_key(issuer: x509.Certificate, serial: int) -> bytes:
    """The documented key: SHA-256(issuer SubjectPublicKeyInfo) ‖ the serial's DER INTEGER contents."""
    spki = issuer.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).digest() + serial.to_bytes(serial.bit_length() // 8 + 1, "big")


def cms_content(meta: Path, issuer: Path) -> dict:
    """The signed metadata as OpenSSL reads it, its signature verified with the issuer's certificate."""
    proc = openssl_ok("cms", "-verify", "-binary", "-inform", "DER", "-in", meta, "-CAfile", issuer,
                      "-partial_chain", "-purpose", "any")
    return json.loads(proc.stdout)


def cascade(path: Path) -> filtercascade.FilterCascade:
    return filtercascade.FilterCascade.from_buf(path.read_bytes())


@pytest.fixture(scope="module")
def population(bins, tmp_path_factory):
    """The demo store, with 100 k more certificates of its RSA CA imported (1 % revoked)."""
    demo = tmp_path_factory.mktemp("filter") / "demo"
    ctl_ok(bins, "demo", "--dir", demo, "--url", "http://127.0.0.1:9/")
    rng = random.Random(24)
    serials = list({rng.getrandbits(127) | 1 << 100 for _ in range(POPULATION + 100)})[:POPULATION]
    revoked = set(serials[::REVOKED_EVERY])
    lines = []
    for index, serial in enumerate(serials):
        if serial in revoked:
            lines.append(f"R\t301231235959Z\t260101000000Z,keyCompromise\t{serial:X}\tunknown\t/CN=p{index}")
        else:
            lines.append(f"V\t301231235959Z\t\t{serial:X}\tunknown\t/CN=p{index}")
    index_path = demo / "index.txt"
    index_path.write_text("\n".join(lines) + "\n")
    ctl_ok(bins, "import", "--store", demo / "store", "--issuer", demo / "rsa-ca.pem", "--index", index_path, timeout=300)
    # One demo leaf of the RSA CA revoked, as an operator would.
    ctl_ok(bins, "revoke", "--store", demo / "store", "--cert", demo / "leaves" / "leaf-rsa-02.pem", "--reason", "keyCompromise")
    return demo, serials, revoked


def export(bins, demo: Path, out: Path, *extra) -> tuple[str, str]:
    """Exports the RSA CA's filter; returns the ocspctl output and the path ocspd serves it at."""
    proc = ctl_ok(bins, "filter", "export", "--store", demo / "store", "--issuer", demo / "rsa-ca.pem",
                  "--out", out, "--coverage-margin", "0", *extra, timeout=120)
    served = re.search(r"ocspd serves it at (/filter/[0-9a-f]+\.mlbf)", proc.stdout)
    assert served, proc.stdout
    return proc.stdout, served.group(1)


def test_filtercascade_reads_the_export_and_answers_every_certificate_exactly(bins, population, tmp_path):
    demo, serials, revoked = population
    out = tmp_path / "rsa.mlbf"
    export(bins, demo, out)
    issuer = load_cert(demo / "rsa-ca.pem")
    fc = cascade(out)
    false_negatives = [s for s in revoked if filter_key(issuer, s) not in fc]
    false_positives = [s for s in serials if s not in revoked and filter_key(issuer, s) in fc]
    assert not false_negatives and not false_positives, (len(false_negatives), len(false_positives))
    # The demo's own leaves too: the revoked one in, the good ones out.
    for name in ("leaf-rsa-01", "leaf-rsa-02", "leaf-rsa-03"):
        leaf = load_cert(demo / "leaves" / f"{name}.pem")
        assert (filter_key(issuer, leaf.serial_number) in fc) == (name == "leaf-rsa-02"), name

    # The metadata, verified by OpenSSL with the issuer's certificate, describes these bytes.
    meta = cms_content(Path(str(out) + ".meta"), demo / "rsa-ca.pem")
    assert meta["filterSHA256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert meta["filterBytes"] == out.stat().st_size
    assert meta["revoked"] == len(revoked) + 1
    assert meta["good"] >= POPULATION - len(revoked)
    assert meta["issuer"] == "CN=Demo RSA CA,O=OCSP Responder Demo"
    this_update = dt.datetime.fromisoformat(meta["thisUpdate"].replace("Z", "+00:00"))
    next_update = dt.datetime.fromisoformat(meta["nextUpdate"].replace("Z", "+00:00"))
    assert next_update - this_update == dt.timedelta(days=7)
    # At least ten times smaller than the same population's CRL.
    crl = tmp_path / "rsa.crl"
    ctl_ok(bins, "crl", "generate", "--store", demo / "store", "--issuer", demo / "rsa-ca.pem", "--out", crl)
    assert out.stat().st_size * 10 <= crl.stat().st_size, (out.stat().st_size, crl.stat().st_size)


def test_a_revocation_is_in_the_next_export(bins, population, tmp_path):
    demo, serials, revoked = population
    issuer = load_cert(demo / "rsa-ca.pem")
    victim = next(s for s in serials if s not in revoked)
    first_out = tmp_path / "first.mlbf"
    export(bins, demo, first_out)
    assert filter_key(issuer, victim) not in cascade(first_out)
    ctl_ok(bins, "revoke", "--store", demo / "store", "--issuer", demo / "rsa-ca.pem", "--serial", f"{victim:X}",
           "--reason", "superseded")
    second_out = tmp_path / "second.mlbf"
    export(bins, demo, second_out)
    assert filter_key(issuer, victim) in cascade(second_out)
    first = cms_content(Path(str(first_out) + ".meta"), demo / "rsa-ca.pem")
    second = cms_content(Path(str(second_out) + ".meta"), demo / "rsa-ca.pem")
    assert second["sequence"] > first["sequence"]
    assert second["revoked"] == first["revoked"] + 1
    revoked.add(victim)


def test_verify_rejects_altered_bytes_and_the_wrong_issuer(bins, population, tmp_path):
    demo, _, _ = population
    out = tmp_path / "rsa.mlbf"
    export(bins, demo, out)
    ok = ctl_ok(bins, "filter", "verify", "--filter", out, "--issuer", demo / "rsa-ca.pem")
    assert ok.stdout.startswith("verified: filter #")

    def refused(*args) -> str:
        proc = ctl(bins, "filter", "verify", *args)
        assert proc.returncode == 1, describe(proc)
        assert proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1, describe(proc)
        return proc.stderr

    altered = tmp_path / "altered.mlbf"
    data = bytearray(out.read_bytes())
    data[len(data) // 2] ^= 0x10
    altered.write_bytes(bytes(data))
    Path(str(altered) + ".meta").write_bytes(Path(str(out) + ".meta").read_bytes())
    cascade(altered)  # still a well-formed filter: only the signature tells
    assert "not the ones its signed metadata describes" in refused("--filter", altered, "--issuer", demo / "rsa-ca.pem")

    meta = bytearray(Path(str(out) + ".meta").read_bytes())
    meta[-5] ^= 0x01  # in the signature
    bad_meta = tmp_path / "bad.meta"
    bad_meta.write_bytes(bytes(meta))
    assert "does not verify" in refused("--filter", out, "--meta", bad_meta, "--issuer", demo / "rsa-ca.pem")
    assert openssl("cms", "-verify", "-binary", "-inform", "DER", "-in", bad_meta, "-CAfile", demo / "rsa-ca.pem",
                   "-partial_chain", "-purpose", "any").returncode != 0

    assert "does not verify" in refused("--filter", out, "--issuer", demo / "ec-root.pem")
    missing = ctl(bins, "filter", "verify", "--filter", tmp_path / "none.mlbf")
    assert missing.returncode == 3 and "no filter at" in missing.stderr, describe(missing)


def issue_late_leaf(demo: Path, tmp_path: Path) -> Path:
    """A certificate of the demo RSA CA issued now (after the filter), by OpenSSL."""
    key = tmp_path / "late.key"
    csr = tmp_path / "late.csr"
    cert = tmp_path / "late.pem"
    openssl_ok("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
               "-subj", "/CN=late.filter.test", "-out", csr)
    openssl_ok("x509", "-req", "-in", csr, "-CA", demo / "rsa-ca.pem", "-CAkey", demo / "rsa-ca.key", "-days", "30",
               "-set_serial", "0x4C415445", "-out", cert)
    return cert


def test_check_answers_good_revoked_and_not_covered(bins, population, tmp_path):
    demo, _, _ = population
    out = tmp_path / "rsa.mlbf"
    export(bins, demo, out)
    time.sleep(1.1)  # notBefore has one-second precision: the late leaf's is after thisUpdate
    late = issue_late_leaf(demo, tmp_path)

    def check(cert: Path) -> tuple[int, dict]:
        proc = ctl(bins, "filter", "check", "--filter", out, "--issuer", demo / "rsa-ca.pem", "--cert", cert, "--json")
        assert proc.returncode in (0, 1, 3), describe(proc)
        return proc.returncode, json.loads(proc.stdout)

    code, good = check(demo / "leaves" / "leaf-rsa-01.pem")
    assert (code, good["answer"]) == (0, "good")
    code, revoked = check(demo / "leaves" / "leaf-rsa-02.pem")
    assert (code, revoked["answer"]) == (1, "revoked")
    code, after = check(late)
    assert (code, after["answer"]) == (3, "not covered") and "issued after the filter" in after["reason"], after
    code, other = check(demo / "leaves" / "leaf-ec-01.pem")
    assert (code, other["answer"]) == (3, "not covered"), other
    # Text output, and the metadata found next to the filter by default.
    text = ctl(bins, "filter", "check", "--filter", out, "--cert", demo / "leaves" / "leaf-rsa-02.pem")
    assert text.returncode == 1 and ": revoked (filter #" in text.stdout, describe(text)


def fetch(url: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_ocspd_serves_and_regenerates_the_filter_with_etag_and_304(bins, population, tmp_path, log_dir):
    demo, serials, revoked = population
    issuer = load_cert(demo / "rsa-ca.pem")
    _, path = export(bins, demo, tmp_path / "seed.mlbf")
    server = Ocspd(bins, demo / "store", log_dir,
                   extra=["--filters", "--filter-coverage-margin", "0", "--crl-debounce", "0.2s"])
    try:
        server.wait_ready()
        url = f"http://127.0.0.1:{server.port}{path}"
        status, headers, body = fetch(url)
        assert status == 200, (status, body[:200])
        assert headers["Content-Type"] == "application/octet-stream"
        assert "max-age=" in headers["Cache-Control"] and headers["Last-Modified"] and headers["Expires"]
        etag = headers["ETag"]
        status, _, empty = fetch(url, {"If-None-Match": etag})
        assert (status, empty) == (304, b"")
        status, meta_headers, meta = fetch(url + ".meta")
        assert status == 200 and meta_headers["ETag"] != etag
        (tmp_path / "served.mlbf").write_bytes(body)
        (tmp_path / "served.mlbf.meta").write_bytes(meta)
        ctl_ok(bins, "filter", "verify", "--filter", tmp_path / "served.mlbf", "--issuer", demo / "rsa-ca.pem")
        assert fetch(f"http://127.0.0.1:{server.port}/filter/00000000000000.mlbf")[0] == 404
        assert fetch(f"http://127.0.0.1:{server.port}/filter/../x.mlbf")[0] == 404

        # A revocation reaches the served filter once it has settled, without a restart.
        victim = next(s for s in serials if s not in revoked)
        ctl_ok(bins, "revoke", "--store", demo / "store", "--issuer", demo / "rsa-ca.pem", "--serial", f"{victim:X}")
        revoked.add(victim)
        deadline = time.monotonic() + 60
        while True:
            status, headers, body = fetch(url)
            if status == 200 and headers["ETag"] != etag:
                fc = filtercascade.FilterCascade.from_buf(body)
                if filter_key(issuer, victim) in fc:
                    break
            assert time.monotonic() < deadline, "the served filter never took the revocation" + server.diagnostics()
            time.sleep(0.3)
        assert fetch(url, {"If-None-Match": etag})[0] == 200
        assert "revocation filter generated" in server.stderr_text()
    finally:
        server.stop()


def test_the_relying_party_asks_the_filter_first(bins, population, tmp_path, log_dir):
    demo, _, _ = population
    out = tmp_path / "rsa.mlbf"
    _, path = export(bins, demo, out)
    time.sleep(1.1)
    late = issue_late_leaf(demo, tmp_path)
    dead = "http://127.0.0.1:9/"  # nothing listens: only the filter can answer

    def decide(cert: Path, location: str) -> dict:
        policy = tmp_path / f"policy-{time.monotonic_ns()}.yaml"
        policy.write_text(f"revocation_checking:\n  method: ocsp\n  filter: {location}\n  timeout: 3s\n")
        proc = ctl(bins, "check", "--cert", cert, "--issuer", demo / "rsa-ca.pem", "--url", dead, "--policy", policy,
                   "--json", timeout=60)
        assert proc.returncode in (0, 1), describe(proc)
        return json.loads(proc.stdout)

    good = decide(demo / "leaves" / "leaf-rsa-01.pem", str(out))
    assert (good["decision"], good["source"], good["status"]) == ("accept", "filter", "good"), good
    revoked = decide(demo / "leaves" / "leaf-rsa-02.pem", str(out))
    assert (revoked["decision"], revoked["source"], revoked["status"]) == ("reject", "filter", "revoked"), revoked
    # Not covered: on to OCSP, which is down here: hard fail, the filter's reason on record.
    uncovered = decide(late, str(out))
    assert uncovered["decision"] == "reject" and uncovered["source"] == "failure_mode", uncovered
    assert uncovered["attempts"][0]["source"] == "filter" and "not covered" in uncovered["attempts"][0]["error"], uncovered
    assert uncovered["reason"].startswith("hard fail"), uncovered  # (async-http-client retries the refused OCSP until the budget ends)

    # The same from ocspd over HTTP (the URL form of the key).
    server = Ocspd(bins, demo / "store", log_dir)
    try:
        server.wait_ready()
        ctl_ok(bins, "filter", "export", "--store", demo / "store", "--issuer", demo / "rsa-ca.pem",
               "--out", tmp_path / "again.mlbf", "--coverage-margin", "0")
        over_http = decide(demo / "leaves" / "leaf-rsa-02.pem", f"http://127.0.0.1:{server.port}{path}")
        assert (over_http["decision"], over_http["source"]) == ("reject", "filter"), over_http
        # A filter whose signature does not verify is not used.
        forged = tmp_path / "forged.mlbf"
        forged.write_bytes(out.read_bytes())
        meta = bytearray(Path(str(out) + ".meta").read_bytes())
        meta[-5] ^= 1
        Path(str(forged) + ".meta").write_bytes(bytes(meta))
        refused = decide(demo / "leaves" / "leaf-rsa-02.pem", str(forged))
        assert refused["source"] == "failure_mode" and "does not verify" in refused["attempts"][0]["error"], refused
    finally:
        server.stop()
