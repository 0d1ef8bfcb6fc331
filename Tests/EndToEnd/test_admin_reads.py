"""ocspctl list, stats and issuer show: read-only views of the store, checked against what each
test did to the demo store and against openssl's reading of the demo certificates."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
import subprocess
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from ocsp_e2e import (
    REVOKED_TIME, ctl, ctl_ok, describe, load_cert, openssl_ok, parse_time, serial_hex, snapshot_tree,
    spki_key_hash, utcnow,
)

EC_LEAVES = [f"leaf-ec-{i:02d}" for i in range(1, 9)]
RSA_LEAVES = [f"leaf-rsa-{i:02d}" for i in range(1, 5)]
DEMO_REVOKED = "leaf-ec-02"          # revoked (keyCompromise) by `ocspctl demo` itself
INVALIDITY = "2025-12-25T00:00:00Z"
DAY = dt.timedelta(days=1)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def json_lines(proc: subprocess.CompletedProcess) -> list[dict]:
    """Every stdout line parsed as one JSON object (JSON Lines)."""
    assert proc.returncode == 0, describe(proc)
    out = []
    for number, line in enumerate(proc.stdout.splitlines(), 1):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            pytest.fail(f"line {number} is not JSON ({e}): {line!r}" + describe(proc))
        assert isinstance(obj, dict), f"line {number} is not an object: {line!r}"
        out.append(obj)
    return out


def json_object(proc: subprocess.CompletedProcess) -> dict:
    """stdout parsed as exactly one JSON object."""
    assert proc.returncode == 0, describe(proc)
    try:
        obj = json.loads(proc.stdout)
    except json.JSONDecodeError as e:
        pytest.fail(f"stdout is not one JSON document ({e}):" + describe(proc))
    assert isinstance(obj, dict), "expected one JSON object:" + describe(proc)
    return obj


def leaf(demo: Path, name: str) -> Path:
    return demo / "leaves" / f"{name}.pem"


def serial_of(path: Path) -> str:
    return serial_hex(load_cert(path))


def openssl_fields(path: Path) -> dict[str, str]:
    """subject (RFC 2253), notBefore, notAfter (RFC 3339 UTC) and serial, as openssl reads them."""
    proc = openssl_ok("x509", "-in", path, "-noout", "-subject", "-startdate", "-enddate", "-serial",
                      "-nameopt", "RFC2253")
    fields = dict(line.split("=", 1) for line in proc.stdout.splitlines())

    def when(text: str) -> str:
        return dt.datetime.strptime(text, "%b %d %H:%M:%S %Y GMT").strftime("%Y-%m-%dT%H:%M:%SZ")

    serial = fields["serial"].upper()
    return {"subject": fields["subject"], "notBefore": when(fields["notBefore"]),
            "notAfter": when(fields["notAfter"]), "serial": serial if len(serial) % 2 == 0 else "0" + serial}


def issuer_show(bins, demo: Path, ca: str) -> dict:
    return json_object(ctl(bins, "issuer", "show", "--store", demo / "store", "--issuer", demo / f"{ca}.pem", "--json"))


def stats(bins, demo: Path) -> dict:
    return json_object(ctl(bins, "stats", "--store", demo / "store", "--json"))


def stats_of(stats_json: dict, issuer_id: str) -> dict:
    [issuer] = [i for i in stats_json["issuers"] if i["id"] == issuer_id]
    return issuer


def wait_for_next_second() -> dt.datetime:
    """The next whole second, once it has come: the store keeps whole seconds, so a change made
    from now on has a changedAt at or after it, and every earlier change is before it."""
    since = utcnow().replace(microsecond=0) + dt.timedelta(seconds=1)
    while utcnow() < since:
        time.sleep(0.05)
    return since


def rfc3339(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def change_demo(bins, demo: Path) -> dt.datetime:
    """Revokes two leaves and holds one, all after the returned time (a whole second)."""
    store = demo / "store"
    since = wait_for_next_second()
    ctl_ok(bins, "revoke", "--store", store, "--cert", leaf(demo, "leaf-ec-03"), "--reason", "keyCompromise",
           "--time", REVOKED_TIME, "--invalidity-date", INVALIDITY)
    ctl_ok(bins, "revoke", "--store", store, "--cert", leaf(demo, "leaf-rsa-01"), "--reason", "superseded")
    ctl_ok(bins, "hold", "--store", store, "--cert", leaf(demo, "leaf-ec-05"))
    return since


# ---------------------------------------------------------------------------
# list
# ---------------------------------------------------------------------------

def test_list_follows_revocations_and_holds(bins, demo):
    store = demo / "store"
    before = utcnow().replace(microsecond=0)
    since = change_demo(bins, demo)
    after = utcnow() + dt.timedelta(seconds=1)
    ec_id = issuer_show(bins, demo, "ec-root")["id"]
    rsa_id = issuer_show(bins, demo, "rsa-ca")["id"]
    serials = {name: serial_of(leaf(demo, name)) for name in EC_LEAVES + RSA_LEAVES}

    everything = json_lines(ctl(bins, "list", "--store", store, "--json"))
    assert len(everything) == len(EC_LEAVES) + len(RSA_LEAVES), everything
    by_serial = {entry["serial"]: entry for entry in everything}
    assert set(by_serial) == set(serials.values()), "list --json must name every demo leaf, once"
    for name, serial in serials.items():
        entry = by_serial[serial]
        assert entry["issuer"] == (ec_id if name.startswith("leaf-ec") else rsa_id), entry
        expected = {"leaf-ec-03": "revoked", "leaf-rsa-01": "revoked", DEMO_REVOKED: "revoked",
                    "leaf-ec-05": "hold"}.get(name, "good")
        assert entry["status"] == expected, f"{name}: {entry}"
        if expected == "good":
            assert not {"revocationTime", "reason", "invalidityDate"} & set(entry), entry
        else:
            parse_time(entry["revocationTime"])

    ec03 = by_serial[serials["leaf-ec-03"]]
    assert (ec03["revocationTime"], ec03["reason"], ec03["invalidityDate"]) == (REVOKED_TIME, "keyCompromise", INVALIDITY)
    assert since <= parse_time(ec03["changedAt"]) <= after, ec03
    rsa01 = by_serial[serials["leaf-rsa-01"]]
    assert rsa01["reason"] == "superseded" and "invalidityDate" not in rsa01, rsa01
    assert since <= parse_time(rsa01["revocationTime"]) <= after, rsa01
    held = by_serial[serials["leaf-ec-05"]]
    assert held["reason"] == "certificateHold" and since <= parse_time(held["revocationTime"]) <= after, held
    # the demo records each leaf's notAfter
    assert by_serial[serials["leaf-ec-01"]]["notAfter"] == openssl_fields(leaf(demo, "leaf-ec-01"))["notAfter"]

    def listed(*args: str) -> set[str]:
        return {entry["serial"] for entry in json_lines(ctl(bins, "list", "--store", store, "--json", *args))}

    assert listed("--status", "revoked") == {serials["leaf-ec-03"], serials["leaf-rsa-01"], serials[DEMO_REVOKED]}
    assert listed("--status", "hold") == {serials["leaf-ec-05"]}
    assert listed("--status", "good") == {serials[n] for n in serials} - listed("--status", "revoked") - {serials["leaf-ec-05"]}
    assert listed("--since", rfc3339(since)) == {serials["leaf-ec-03"], serials["leaf-rsa-01"], serials["leaf-ec-05"]}, \
        "--since keeps what changed at or after it: not the demo's own revocation, nor leaves never changed"
    assert listed("--since", rfc3339(since), "--status", "revoked") == {serials["leaf-ec-03"], serials["leaf-rsa-01"]}
    assert serials[DEMO_REVOKED] in listed("--since", rfc3339(before - DAY)), "the demo's revocation is a change too"
    assert listed("--since", rfc3339(utcnow() + DAY)) == set()
    assert listed("--issuer", demo / "rsa-ca.pem") == {serials[n] for n in RSA_LEAVES}
    assert listed("--issuer", demo / "ec-root.pem", "--status", "revoked") == {serials["leaf-ec-03"], serials[DEMO_REVOKED]}

    # Text: six tab-separated fields, "-" where there is nothing to say; same certificates in the same order.
    text = ctl_ok(bins, "list", "--store", store).stdout.splitlines()
    rows = [line.split("\t") for line in text]
    assert [row[0] for row in rows] == [entry["serial"] for entry in everything]
    assert all(len(row) == 6 for row in rows), text
    row = {r[0]: r for r in rows}
    assert row[serials["leaf-ec-03"]][1:] == ["revoked", REVOKED_TIME, "keyCompromise", INVALIDITY, ec_id[:16].lower()]
    assert row[serials["leaf-ec-01"]][1:] == ["good", "-", "-", "-", ec_id[:16].lower()]
    assert row[serials["leaf-ec-05"]][1] == "hold" and row[serials["leaf-ec-05"]][3] == "certificateHold"
    assert row[serials["leaf-rsa-01"]][4] == "-" and row[serials["leaf-rsa-01"]][5] == rsa_id[:16].lower()


def test_list_pages_through_a_population(bins, demo, tmp_path):
    """More certificates than three pages of 10 000: each once, in key order, counts that agree with stats."""
    count = 25_003
    rng = random.Random(count)
    index = tmp_path / "index.txt"
    revoked = set()
    with index.open("w") as out:
        for i in range(count):
            serial = "%032X" % (rng.getrandbits(126) | (1 << 126))
            if i % 50 == 7:
                revoked.add(serial)
                out.write(f"R\t361127000000Z\t261101000000Z,keyCompromise\t{serial}\tunknown\t/CN=leaf {i}\n")
            else:
                out.write(f"V\t361127000000Z\t\t{serial}\tunknown\t/CN=leaf {i}\n")
    store = demo / "store"
    ctl_ok(bins, "import", "--store", store, "--issuer", demo / "ec-root.pem", "--index", index, timeout=120)

    entries = json_lines(ctl(bins, "list", "--store", store, "--json", "--issuer", demo / "ec-root.pem", timeout=120))
    assert len(entries) == count + len(EC_LEAVES)
    keys = [bytes.fromhex(e["serial"]) for e in entries]
    assert len(set(keys)) == len(keys), "a certificate was listed twice across a page boundary"
    assert keys == sorted(keys), "serials must come in key order (their bytes, as the store keys them)"
    listed_revoked = {e["serial"] for e in entries if e["status"] == "revoked"}
    assert listed_revoked == revoked | {serial_of(leaf(demo, DEMO_REVOKED))}
    imported = [e for e in entries if e["serial"] in revoked]
    assert all(e["revocationTime"] == "2026-11-01T00:00:00Z" and e["notAfter"] == "2036-11-27T00:00:00Z"
               for e in imported), imported[:3]

    everything = ctl_ok(bins, "list", "--store", store, timeout=120).stdout.splitlines()
    figures = stats(bins, demo)
    assert len(everything) == figures["certificates"] == count + len(EC_LEAVES) + len(RSA_LEAVES)
    ec = stats_of(figures, issuer_show(bins, demo, "ec-root")["id"])
    assert ec["certificates"] == {"good": count - len(revoked) + len(EC_LEAVES) - 1, "revoked": len(revoked) + 1,
                                  "hold": 0, "total": count + len(EC_LEAVES)}


# ---------------------------------------------------------------------------
# stats
# ---------------------------------------------------------------------------

def test_stats_count_what_was_done(bins, demo):
    store = demo / "store"
    first = stats(bins, demo)
    change_demo(bins, demo)
    ctl_ok(bins, "crl", "generate", "--store", store, "--issuer", demo / "ec-root.pem", "--delta",
           "--out", demo / "delta.crl")
    figures = stats(bins, demo)

    ec_id = issuer_show(bins, demo, "ec-root")["id"]
    rsa_id = issuer_show(bins, demo, "rsa-ca")["id"]
    assert [i["id"] for i in figures["issuers"]] == sorted([ec_id, rsa_id])
    ec, rsa = stats_of(figures, ec_id), stats_of(figures, rsa_id)
    assert ec["certificates"] == {"good": 5, "revoked": 2, "hold": 1, "total": 8}
    assert rsa["certificates"] == {"good": 3, "revoked": 1, "hold": 0, "total": 4}
    assert figures["certificates"] == 12 == ec["certificates"]["total"] + rsa["certificates"]["total"]
    listed = json_lines(ctl(bins, "list", "--store", store, "--json"))
    assert len(listed) == figures["certificates"]
    for issuer in (ec, rsa):
        mine = [e for e in listed if e["issuer"] == issuer["id"]]
        assert {s: sum(e["status"] == s for e in mine) for s in ("good", "revoked", "hold")} == \
            {s: issuer["certificates"][s] for s in ("good", "revoked", "hold")}

    # Responses: the demo pre-signed each leaf's SHA-1 response; status changes re-signed theirs.
    assert figures["responses"] == 12 == ec["responses"]["count"] + rsa["responses"]["count"]
    for issuer in (ec, rsa):
        r = issuer["responses"]
        assert r["expired"] == 0
        oldest, newest = parse_time(r["oldestThisUpdate"]), parse_time(r["newestThisUpdate"])
        assert oldest <= newest <= utcnow() + dt.timedelta(seconds=5)
        # every demo response is valid for a day: the nextUpdate range is the thisUpdate range moved by a day
        assert (parse_time(r["earliestNextUpdate"]), parse_time(r["latestNextUpdate"])) == (oldest + DAY, newest + DAY)
    assert parse_time(ec["responses"]["newestThisUpdate"]) >= parse_time(stats_of(first, ec_id)["responses"]["newestThisUpdate"])

    # CRLs: the demo made complete CRL #1 for each issuer; the delta here took #2.
    crl_number = openssl_ok("crl", "-in", demo / "delta.crl", "-inform", "DER", "-noout", "-crlnumber").stdout
    assert int(crl_number.strip().split("=")[1], 16) == 2
    assert ec["crl"]["full"]["number"] == 1 and ec["crl"]["delta"]["number"] == 2
    assert ec["crl"]["lastReservedNumber"] == 2 and ec["crl"]["shards"] == 0
    assert rsa["crl"]["full"]["number"] == 1 and "delta" not in rsa["crl"] and rsa["crl"]["lastReservedNumber"] == 1

    # Signers: the delegated responder for the EC root, the CA itself for the RSA CA.
    responder, rsa_ca = openssl_fields(demo / "responder.pem"), openssl_fields(demo / "rsa-ca.pem")
    assert ec["signer"] == {"mode": "delegated", **responder}
    assert rsa["signer"] == {"mode": "ca", **rsa_ca}
    assert ec["subject"] == openssl_fields(demo / "ec-root.pem")["subject"] and rsa["subject"] == rsa_ca["subject"]

    # The store as a whole.
    assert figures["fileBytes"] == os.path.getsize(store / "data.mdb")
    assert 0 < figures["usedBytes"] <= figures["fileBytes"] <= figures["mapSize"]
    assert figures["lastAuditSequence"] >= first["lastAuditSequence"] + 3, "two revocations and a hold were audited"
    assert figures["path"] == str(store.resolve())

    text = ctl_ok(bins, "stats", "--store", store).stdout
    assert "8: 5 good, 2 revoked, 1 on hold" in text and "4: 3 good, 1 revoked, 0 on hold" in text, text


# ---------------------------------------------------------------------------
# issuer show
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("ca, signer", [("ec-root", "responder"), ("rsa-ca", None)])
def test_issuer_show_matches_openssl(bins, demo, ca, signer):
    change_demo(bins, demo)
    shown = issuer_show(bins, demo, ca)
    cert = load_cert(demo / f"{ca}.pem")
    fields = openssl_fields(demo / f"{ca}.pem")
    assert (shown["subject"], shown["notBefore"], shown["notAfter"], shown["serial"]) == \
        (fields["subject"], fields["notBefore"], fields["notAfter"], fields["serial"])
    assert shown["id"] == hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    assert shown["slug"] == shown["id"][:16].lower()
    if signer:
        assert shown["signer"] == {"mode": "delegated", **openssl_fields(demo / f"{signer}.pem")}
        assert shown["responderKeyPath"] == str((demo / f"{signer}.key").resolve())
    else:
        assert shown["signer"] == {"mode": "ca", **fields}
        assert "responderKeyPath" not in shown
    assert shown["caKeyPath"] == str((demo / f"{ca}.key").resolve())
    assert shown["responseValidity"] == 86400
    assert abs(parse_time(shown["addedAt"]) - utcnow()) < dt.timedelta(minutes=5)

    # CertID hashes: of the issuer's DER-encoded name and of its public key's BIT STRING value.
    name_der = cert.subject.public_bytes()
    key_sha1 = spki_key_hash(cert)
    assert set(shown["certIDHashes"]) == {"sha1", "sha256", "sha384", "sha512"}
    assert shown["certIDHashes"]["sha1"] == {"nameHash": hashlib.sha1(name_der).hexdigest().upper(),
                                             "keyHash": key_sha1.hex().upper()}
    for algorithm in ("sha256", "sha384", "sha512"):
        assert shown["certIDHashes"][algorithm]["nameHash"] == hashlib.new(algorithm, name_der).hexdigest().upper()

    expected = {"ec-root": {"good": 5, "revoked": 2, "hold": 1, "total": 8},
                "rsa-ca": {"good": 3, "revoked": 1, "hold": 0, "total": 4}}[ca]
    assert shown["certificates"] == expected
    assert stats_of(stats(bins, demo), shown["id"])["certificates"] == expected

    text = ctl_ok(bins, "issuer", "show", "--store", demo / "store", "--issuer", demo / f"{ca}.pem").stdout
    assert fields["subject"] in text and shown["id"] in text, text
    assert ("delegated responder" in text) == (signer is not None), text


# ---------------------------------------------------------------------------
# read-only, and bad input
# ---------------------------------------------------------------------------

def test_reads_change_nothing(bins, demo):
    store = demo / "store"
    change_demo(bins, demo)
    before = snapshot_tree(store)
    for args in (["list"], ["list", "--json", "--status", "revoked"], ["stats"], ["stats", "--json"],
                 ["issuer", "show", "--issuer", demo / "ec-root.pem"],
                 ["issuer", "show", "--issuer", demo / "rsa-ca.pem", "--json"]):
        ctl_ok(bins, *args, "--store", store)
    assert snapshot_tree(store) == before, "a read-only command changed the store"


def one_line_error(proc: subprocess.CompletedProcess, status: int) -> str:
    assert proc.returncode == status, f"expected exit status {status}:" + describe(proc)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, "expected a one-line error:" + describe(proc)
    assert proc.stdout == "", describe(proc)
    return lines[0]


def test_bad_input(bins, demo, tmp_path):
    store = demo / "store"
    message = one_line_error(ctl(bins, "list", "--store", store, "--status", "bogus"), 2)
    assert "bogus" in message and all(word in message for word in ("good", "revoked", "hold")), message
    one_line_error(ctl(bins, "list", "--store", store, "--since", "yesterday"), 2)

    # A leaf, and a CA never added: neither is an issuer of the store.
    stranger = tmp_path / "stranger.pem"
    openssl_ok("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
               "-keyout", tmp_path / "stranger.key", "-subj", "/CN=Stranger CA", "-days", "1", "-out", stranger)
    for cert in (leaf(demo, "leaf-ec-01"), stranger):
        message = one_line_error(ctl(bins, "issuer", "show", "--store", store, "--issuer", cert), 3)
        assert "not in the store" in message, message
        one_line_error(ctl(bins, "list", "--store", store, "--issuer", cert), 3)
    one_line_error(ctl(bins, "stats", "--store", tmp_path / "no-store"), 3)
    one_line_error(ctl(bins, "list", "--store", tmp_path / "no-store"), 3)
