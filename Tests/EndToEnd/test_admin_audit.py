"""The admin CLI for daily operations and incidents, and the hash-chained audit log (issue 20),
checked against peers: an `index.txt` written by `openssl ca` (and its `-status`), OCSP answers
parsed by python `cryptography` from a running ocspd under `ocsp-load`, LMDB's own `mdb_dump` /
`mdb_load` to tamper with the log and to make a store of the previous schema."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp

from ocsp_e2e import (
    REPO_ROOT, Ocspd, build_request, ctl, ctl_ok, describe, load_cert, make_ca, new_responder, openssl_ok,
    parse_ok_response, post_ocsp, run_ok, serial_hex, verify_signature,
)



def audit(bins, store: Path, *args) -> list[dict]:
    """`ocspctl audit --json`, every line parsed."""
    proc = ctl_ok(bins, "audit", "--store", store, "--json", *args)
    return [json.loads(line) for line in proc.stdout.splitlines()]


def head(bins, store: Path) -> str:
    return ctl_ok(bins, "audit", "head", "--store", store).stdout.strip()


def refused(bins, *args, status: int = 1) -> str:
    """Runs ocspctl expecting exit `status` and one line on stderr; returns the line."""
    proc = ctl(bins, *args)
    assert proc.returncode == status, f"expected exit {status}:" + describe(proc)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), "expected one error line:" + describe(proc)
    return lines[0]


def ocsp_status(port: int, leaf: Path, issuer: Path, signer: Path | None = None) -> str:
    """good / revoked / unknown, from a fresh (nonce) answer of ocspd, signature checked."""
    der = build_request(load_cert(leaf), load_cert(issuer), nonce=os.urandom(16))
    response = parse_ok_response(post_ocsp(port, der))
    verify_signature(response, load_cert(signer or issuer))
    return {ocsp.OCSPCertStatus.GOOD: "good", ocsp.OCSPCertStatus.REVOKED: "revoked",
            ocsp.OCSPCertStatus.UNKNOWN: "unknown"}[response.certificate_status]


def check_chain(records: list[dict]) -> None:
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1)), "the sequence is not dense from 1"
    assert records[0]["prev"] == "0" * 64


# --------------------------------------------------------------------------------------------
# import from a real `openssl ca`
# --------------------------------------------------------------------------------------------

def openssl_ca_status(d: Path, name: str) -> str:
    """What `openssl ca -status` says of a certificate: good or revoked."""
    proc = subprocess.run(["openssl", "ca", "-config", d / "ca.cnf", "-status", serial_hex(load_cert(d / f"{name}.pem"))],
                          capture_output=True, text=True, timeout=30)
    text = proc.stdout + proc.stderr
    if "Valid (V)" in text:
        return "good"
    assert "Revoked (R)" in text, text
    return "revoked"


def test_reimport_changes_nothing_and_every_status_matches_openssl_ca(bins, tmp_path, log_dir):
    d = tmp_path
    names = ["good", "compromised", "held", "later"]
    make_ca(d, "Audit Test CA", names)
    openssl_ok("ca", "-config", d / "ca.cnf", "-revoke", d / "compromised.pem", "-crl_compromise", "20260101000000Z")
    openssl_ok("ca", "-config", d / "ca.cnf", "-revoke", d / "held.pem", "-crl_hold", "holdInstructionNone")
    store = d / "store"
    ctl_ok(bins, "init", "--store", store)
    ctl_ok(bins, "issuer", "add", "--store", store, "--cert", d / "ca.pem", "--key", d / "ca.key")
    out = ctl_ok(bins, "import", "--store", store, "--issuer", d / "ca.pem", "--index", d / "index.txt").stdout
    assert "4 added, 0 changed, 0 unchanged" in out, out
    records = audit(bins, store)
    imports = [r for r in records if r["action"] == "cert.import"]
    assert len(imports) == 4 and all("before" not in r for r in imports), imports
    assert {r["serial"] for r in imports} == {serial_hex(load_cert(d / f"{n}.pem")) for n in names}

    # The same index again: nothing written, not even an audit record.
    before = head(bins, store)
    out = ctl_ok(bins, "import", "--store", store, "--issuer", d / "ca.pem", "--index", d / "index.txt").stdout
    assert "0 added, 0 changed, 4 unchanged" in out, out
    assert head(bins, store) == before

    # openssl ca revokes one more: the re-import changes exactly that one.
    openssl_ok("ca", "-config", d / "ca.cnf", "-revoke", d / "later.pem", "-crl_reason", "superseded")
    out = ctl_ok(bins, "import", "--store", store, "--issuer", d / "ca.pem", "--index", d / "index.txt").stdout
    assert "0 added, 1 changed, 3 unchanged" in out, out
    last = audit(bins, store)[-1]
    assert last["action"] == "cert.import" and last["serial"] == serial_hex(load_cert(d / "later.pem"))
    assert last["before"]["status"] == "good" and last["after"] == {**last["after"], "status": "revoked", "reason": "superseded"}

    server = Ocspd(bins, store, log_dir)
    port = server.wait_ready()
    try:
        for name in names:
            assert ocsp_status(port, d / f"{name}.pem", d / "ca.pem") == openssl_ca_status(d, name), name
    finally:
        server.stop()

    # A bad line is named and stops the import before anything is written; --skip-bad goes on.
    bad = d / "bad.txt"
    bad.write_text("V\t361231235959Z\t\t2000\tunknown\t/CN=x\nQ\tnonsense\nV\t361231235959Z\t\t2001\tunknown\t/CN=y\n")
    before = head(bins, store)
    line = refused(bins, "import", "--store", store, "--issuer", d / "ca.pem", "--index", bad)
    assert "index line 2" in line, line
    assert head(bins, store) == before
    proc = ctl_ok(bins, "import", "--store", store, "--issuer", d / "ca.pem", "--index", bad, "--skip-bad")
    assert "2 added" in proc.stdout and "1 bad lines skipped" in proc.stdout and "index line 2" in proc.stderr, describe(proc)


# --------------------------------------------------------------------------------------------
# hold, unhold, refusals, forced changes, actors
# --------------------------------------------------------------------------------------------

def test_hold_unhold_round_trip_refusals_and_forced_changes(bins, demo, log_dir):
    store = demo / "store"
    leaf, root, responder = demo / "leaves" / "leaf-ec-01.pem", demo / "ec-root.pem", demo / "responder.pem"
    serial = serial_hex(load_cert(leaf))
    server = Ocspd(bins, store, log_dir)
    port = server.wait_ready()
    try:
        assert ocsp_status(port, leaf, root, responder) == "good"
        ctl_ok(bins, "hold", "--store", store, "--cert", leaf, "--actor", "alice")
        assert ocsp_status(port, leaf, root, responder) == "revoked"
        env = {**os.environ, "OCSPCTL_ACTOR": "bob"}
        proc = subprocess.run([bins.ocspctl, "unhold", "--store", store, "--cert", leaf], env=env,
                              capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, describe(proc)
        assert ocsp_status(port, leaf, root, responder) == "good"
    finally:
        server.stop()
    # (ocspd's own records, CRL number reservations, come in between)
    hold, unhold = [r for r in audit(bins, store) if r["action"].startswith("cert.")][-2:]
    assert (hold["action"], hold["actor"], hold["serial"]) == ("cert.hold", "alice", serial)
    assert hold["before"]["status"] == "good" and hold["after"]["status"] == "hold"
    assert hold["after"]["reason"] == "certificateHold"
    assert (unhold["action"], unhold["actor"]) == ("cert.unhold", "bob")
    assert unhold["before"]["status"] == "hold" and unhold["after"]["status"] == "good"
    assert "forced" not in hold and "forced" not in unhold

    # Revocation is permanent: refused, one line, nothing written.
    ctl_ok(bins, "revoke", "--store", store, "--cert", leaf, "--reason", "keyCompromise")
    before = head(bins, store)
    assert "already revoked" in refused(bins, "revoke", "--store", store, "--cert", leaf, "--reason", "superseded")
    assert "--force" in refused(bins, "unhold", "--store", store, "--cert", leaf)
    assert "cannot be put on hold" in refused(bins, "hold", "--store", store, "--cert", leaf)
    assert head(bins, store) == before
    # --force changes the reason, and says so in the log.
    ctl_ok(bins, "revoke", "--store", store, "--cert", leaf, "--reason", "superseded", "--force",
           "--invalidity-date", "2026-01-02T03:04:05Z")
    forced = audit(bins, store)[-1]
    assert forced["forced"] is True and forced["before"]["reason"] == "keyCompromise"
    assert forced["after"]["reason"] == "superseded" and forced["after"]["invalidityDate"] == "2026-01-02T03:04:05Z"
    assert ctl_ok(bins, "status", "--store", store, "--cert", leaf, "--json").stdout.count("superseded") == 1

    # Bad input: one line, a documented status, nothing written.
    before = head(bins, store)
    refused(bins, "revoke", "--store", store, "--issuer", root, "--serial", "XYZ", status=2)
    refused(bins, "revoke", "--store", store, "--cert", leaf, "--reason", "bogus", status=2)
    refused(bins, "revoke", "--store", store, "--issuer", demo / "leaves" / "leaf-ec-02.pem", "--serial", "01", status=3)
    refused(bins, "status", "--store", demo / "nothing-here", "--cert", leaf, status=3)
    refused(bins, "issuer", "set-responder", "--store", store, "--issuer", root, "--responder-cert", responder,
            "--responder-key", demo / "ec-root.key")
    assert head(bins, store) == before
    ctl_ok(bins, "audit", "verify", "--store", store)
    issuers = [json.loads(line) for line in ctl_ok(bins, "issuer", "list", "--store", store, "--json").stdout.splitlines()]
    assert {i["id"] for i in issuers} == {issuer_id(root), issuer_id(demo / "rsa-ca.pem")}
    assert {i["signer"] for i in issuers} == {"ca", "delegated"}


# --------------------------------------------------------------------------------------------
# the chain
# --------------------------------------------------------------------------------------------

def tamper(store: Path, sequence: int, change) -> None:
    """Rewrites audit record `sequence` in place with LMDB's own tools (mdb_dump / mdb_load)."""
    dump = run_ok(["mdb_dump", "-s", "audit", store]).stdout.splitlines()
    key = f" {sequence:016x}"
    index = dump.index(key)
    record = json.loads(bytes.fromhex(dump[index + 1].strip()))
    change(record)
    encoded = json.dumps(record, separators=(",", ":")).encode()
    lines = dump[:dump.index("HEADER=END") + 1] + [key, " " + encoded.hex()]
    subprocess.run(["mdb_load", "-s", "audit", store], input="\n".join(lines) + "\n", text=True, check=True,
                   capture_output=True, timeout=30)


def test_audit_verify_names_the_record_after_an_altered_one(bins, demo):
    store = demo / "store"
    records = audit(bins, store)
    check_chain(records)
    proc = ctl_ok(bins, "audit", "verify", "--store", store)
    assert f"{len(records)} records" in proc.stdout, proc.stdout
    result = json.loads(ctl_ok(bins, "audit", "verify", "--store", store, "--json").stdout)
    assert result == {"verified": True, "records": len(records), "head": head(bins, store)}
    exported = head(bins, store)

    def relabel(record):
        record["actor"] = "mallory"
    tamper(store, 3, relabel)
    line = refused(bins, "audit", "verify", "--store", store)
    assert "record 4" in line and "record 3" in line, line
    proc = ctl(bins, "audit", "verify", "--store", store, "--json")
    result = json.loads(proc.stdout)
    assert proc.returncode == 1 and result["verified"] is False and result["firstBad"]["sequence"] == 4, describe(proc)

    # Undo that edit, and rewrite the last record instead: the head stored with the log catches it,
    # and so does a head exported before.
    def restore(record):
        record["actor"] = records[2]["actor"]
    tamper(store, 3, restore)
    ctl_ok(bins, "audit", "verify", "--store", store, "--head", exported)
    last = len(records)

    def backdate(record):
        record["time"] = "2020-01-01T00:00:00Z"
    tamper(store, last, backdate)
    assert f"record {last}" in refused(bins, "audit", "verify", "--store", store)
    assert f"record {last}" in refused(bins, "audit", "verify", "--store", store, "--head", exported)


# --------------------------------------------------------------------------------------------
# concurrency: four revokers while ocspd serves under ocsp-load
# --------------------------------------------------------------------------------------------

def test_concurrent_revokers_under_load_lose_nothing(bins, demo, log_dir, tmp_path):
    store, root = demo / "store", demo / "ec-root.pem"
    serials = [f"{0xA0000 + i:X}" for i in range(400)]
    (tmp_path / "all.txt").write_text("\n".join(serials) + "\n")
    out = ctl_ok(bins, "cert", "add", "--store", store, "--issuer", root, "--serials", tmp_path / "all.txt").stdout
    assert "added 400 of 400" in out, out
    out = ctl_ok(bins, "cert", "add", "--store", store, "--issuer", root, "--serials", tmp_path / "all.txt").stdout
    assert "added 0 of 400" in out, out
    first = len(audit(bins, store)) + 1

    server = Ocspd(bins, store, log_dir, extra=["--threads", "2"])
    port = server.wait_ready()
    report = tmp_path / "load.json"
    load = subprocess.Popen(
        [str(REPO_ROOT / ".build" / "debug" / "ocsp-load"), "--url", f"http://127.0.0.1:{port}/", "--store", str(store),
         "--issuer", str(root), "--method", "mix", "--connections", "8", "--threads", "1", "--duration", "6s",
         # No sampled status checks: ocsp-load compares with the store as it was at its start.
         "--verify-sample", "0", "--json", str(report)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        revokers = []
        for k in range(4):
            part = tmp_path / f"part{k}.txt"
            part.write_text("\n".join(serials[k::4]) + "\n")
            revokers.append(subprocess.Popen(
                [bins.ocspctl, "revoke", "--store", store, "--issuer", root, "--serials", part, "--reason",
                 "keyCompromise", "--rate", "40", "--actor", f"revoker-{k}"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL))
        for proc in revokers:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            assert "revoked 100 of 100" in out, out
        out, err = load.communicate(timeout=120)
        assert load.returncode == 0, f"ocsp-load saw failures:\n{out}\n{err}"
        stats = json.loads(report.read_text())
        assert stats["errorCount"] == 0 and stats["requests"] > 100, stats
    finally:
        if load.poll() is None:
            load.kill()
        server.stop()

    records = audit(bins, store)
    check_chain(records)
    revokes = [r for r in records[first - 1:] if r["action"] == "cert.revoke"]
    assert sorted(int(r["serial"], 16) for r in revokes) == sorted(int(s, 16) for s in serials), \
        "a revocation is missing or recorded twice"
    assert {r["actor"] for r in revokes} == {f"revoker-{k}" for k in range(4)}
    # The four interleaved: no revoker's 100 records form one block.
    actors = [r["actor"] for r in revokes]
    assert sum(1 for a, b in zip(actors, actors[1:]) if a != b) > 4, "the revokers did not run concurrently"
    ctl_ok(bins, "audit", "verify", "--store", store)
    # --follow prints what commits after it started.
    follower = subprocess.Popen([bins.ocspctl, "audit", "--store", store, "--json", "--follow",
                                 "--since", str(len(records) + 1)], stdout=subprocess.PIPE, text=True)
    try:
        ctl_ok(bins, "hold", "--store", store, "--cert", demo / "leaves" / "leaf-ec-01.pem", "--actor", "carol")
        line = {}
        reader = threading.Thread(target=lambda: line.update(json.loads(follower.stdout.readline())), daemon=True)
        reader.start()
        reader.join(timeout=10)
        assert line.get("actor") == "carol" and line.get("seq") == len(records) + 1, line
    finally:
        follower.kill()
        follower.wait()


# --------------------------------------------------------------------------------------------
# replay, rotation, removal, schema
# --------------------------------------------------------------------------------------------

def statuses(bins, store: Path) -> list[dict]:
    proc = ctl_ok(bins, "list", "--store", store, "--json")
    return sorted((json.loads(line) for line in proc.stdout.splitlines()), key=lambda e: (e["issuer"], e["serial"]))


def test_replay_of_a_10k_store_reproduces_every_status(bins, demo, tmp_path):
    store, root = demo / "store", demo / "ec-root.pem"
    serials = [f"{0x100000 + i:X}" for i in range(10_000)]
    (tmp_path / "all.txt").write_text("\n".join(serials) + "\n")
    ctl_ok(bins, "cert", "add", "--store", store, "--issuer", root, "--serials", tmp_path / "all.txt", timeout=300)
    (tmp_path / "compromised.txt").write_text("\n".join(serials[:1000]) + "\n")
    (tmp_path / "superseded.txt").write_text("\n".join(serials[1000:1500]) + "\n")
    ctl_ok(bins, "revoke", "--store", store, "--issuer", root, "--serials", tmp_path / "compromised.txt",
           "--reason", "keyCompromise", "--time", "2026-01-02T03:04:05Z", timeout=300)
    ctl_ok(bins, "revoke", "--store", store, "--issuer", root, "--serials", tmp_path / "superseded.txt",
           "--reason", "superseded", timeout=300)
    for serial in serials[2000:2010]:
        ctl_ok(bins, "hold", "--store", store, "--issuer", root, "--serial", serial)
    ctl_ok(bins, "unhold", "--store", store, "--issuer", root, "--serial", serials[2000])

    log = tmp_path / "audit.jsonl"
    log.write_text(ctl_ok(bins, "audit", "--store", store, "--json", timeout=300).stdout)
    copy = tmp_path / "copy"
    out = ctl_ok(bins, "audit", "replay", "--store", copy, "--from", log, timeout=300).stdout
    assert head(bins, copy) == head(bins, store), out
    original = statuses(bins, store)
    assert len(original) == 10_012
    assert statuses(bins, copy) == original
    ctl_ok(bins, "audit", "verify", "--store", copy)

    # From standard input too, and a tampered export stops at the record it breaks.
    lines = log.read_text().splitlines()
    record = json.loads(lines[99])
    record["actor"] = "mallory"
    lines[99] = json.dumps(record, separators=(",", ":"))
    proc = subprocess.run([bins.ocspctl, "audit", "replay", "--store", tmp_path / "tampered", "--from", "-"],
                          input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "record 101" in proc.stderr, describe(proc)


def test_set_responder_while_ocspd_runs(bins, demo, log_dir, tmp_path):
    store, root, leaf = demo / "store", demo / "ec-root.pem", demo / "leaves" / "leaf-ec-01.pem"
    server = Ocspd(bins, store, log_dir)
    port = server.wait_ready()
    try:
        old = parse_ok_response(post_ocsp(port, build_request(load_cert(leaf), load_cert(root))))
        verify_signature(old, load_cert(demo / "responder.pem"))
        cert, key = new_responder(demo, tmp_path)
        out = ctl_ok(bins, "issuer", "set-responder", "--store", store, "--issuer", root, "--responder-cert", cert,
                     "--responder-key", key).stdout
        assert "Rotated OCSP Responder" in out, out
        # New signatures (a nonce forces one) use the new responder within the change log's next look.
        deadline = time.monotonic() + 10
        while True:
            fresh = parse_ok_response(post_ocsp(port, build_request(load_cert(leaf), load_cert(root),
                                                                    nonce=os.urandom(16))))
            if fresh.certificates and fresh.certificates[0] == load_cert(cert):
                break
            assert time.monotonic() < deadline, "ocspd still signs with the old responder"
            time.sleep(0.2)
        verify_signature(fresh, load_cert(cert))
        # presign re-signs the cached responses; ocspd serves them at once.
        ctl_ok(bins, "presign", "--store", store, "--issuer", root)
        cached = parse_ok_response(post_ocsp(port, build_request(load_cert(leaf), load_cert(root))))
        verify_signature(cached, load_cert(cert))
    finally:
        server.stop()
    rotation = [r for r in audit(bins, store) if r["action"] == "issuer.set-responder"]
    assert len(rotation) == 1 and rotation[0]["issuer"] == issuer_id(root)
    assert "Demo EC Root CA" in rotation[0]["detail"]["subject"]
    assert base64.b64decode(rotation[0]["issuerRecord"]), "a rotation carries the new record (replay needs it)"


def issuer_id(ca: Path) -> str:
    """The issuer id the store keys a CA by: SHA-256 of its DER, upper-case hex."""
    return hashlib.sha256(load_cert(ca).public_bytes(Encoding.DER)).hexdigest().upper()


def test_issuer_remove_refuses_while_certificates_remain(bins, demo):
    store, ca = demo / "store", demo / "rsa-ca.pem"
    before = head(bins, store)
    assert "--force" in refused(bins, "issuer", "remove", "--store", store, "--issuer", ca)
    assert head(bins, store) == before
    out = ctl_ok(bins, "issuer", "remove", "--store", store, "--issuer", ca, "--force").stdout
    assert "removed issuer" in out, out
    removal = audit(bins, store)[-1]
    assert removal["action"] == "issuer.remove" and removal["forced"] is True and int(removal["detail"]["certificates"]) > 0
    refused(bins, "status", "--store", store, "--cert", demo / "leaves" / "leaf-rsa-01.pem", status=3)


def rewrite_store(source: Path, target: Path, edit) -> None:
    """Copies a store through `mdb_dump -a` / `mdb_load`, letting `edit(database, pairs)` change it."""
    dump = run_ok(["mdb_dump", "-a", source]).stdout.splitlines()
    out, database, pairs, header = [], None, [], []

    def flush():
        if database is not None:
            out.extend(header)
            for key, value in edit(database, pairs):
                out.extend([" " + key.hex(), " " + value.hex()])
            out.append("DATA=END")
    i = 0
    while i < len(dump):
        line = dump[i]
        if line.startswith("VERSION="):
            flush()
            header, pairs, database = [line], [], None
        elif line == "DATA=END":
            pass
        elif line.startswith(" "):
            pairs.append((bytes.fromhex(line.strip()), bytes.fromhex(dump[i + 1].strip())))
            i += 1
        else:
            header.append(line)
            if line.startswith("database="):
                database = line.split("=", 1)[1]
        i += 1
    flush()
    target.mkdir()
    subprocess.run(["mdb_load", target], input="\n".join(out) + "\n", text=True, check=True, capture_output=True,
                   timeout=60)


def test_schema_1_is_refused_then_migrated_and_a_newer_one_refused(bins, demo, tmp_path):
    store = demo / "store"
    leaf = demo / "leaves" / "leaf-ec-01.pem"

    def to_schema_1(database, pairs):
        if database == "meta":
            return [(k, b"\x01" if k == b"schema" else v) for k, v in pairs if k != b"audit_head"]
        if database == "audit":  # schema 1 kept unchained JSON lines, numbered from 0
            return [((i).to_bytes(8, "big"), json.dumps({"action": "cert.add", "serial": str(i)}).encode())
                    for i in range(3)]
        return pairs
    old = tmp_path / "old"
    rewrite_store(store, old, to_schema_1)
    line = refused(bins, "status", "--store", old, "--cert", leaf)
    assert "schema 1" in line and "ocspctl migrate --store" in line, line
    proc = subprocess.run([bins.ocspd, "--store", old, "--listen", "127.0.0.1:0"], capture_output=True, text=True,
                          timeout=30, stdin=subprocess.DEVNULL)
    assert proc.returncode != 0 and "ocspctl migrate" in proc.stderr, describe(proc)

    ctl_ok(bins, "migrate", "--store", old)
    assert "already" in ctl_ok(bins, "migrate", "--store", old).stdout
    records = audit(bins, old)
    check_chain(records)
    assert [r["action"] for r in records[:3]] == ["legacy"] * 3 and records[-1]["action"] == "store.migrate"
    ctl_ok(bins, "audit", "verify", "--store", old)
    # The migrated log alone rebuilds the store.
    log = tmp_path / "migrated.jsonl"
    log.write_text(ctl_ok(bins, "audit", "--store", old, "--json").stdout)
    ctl_ok(bins, "audit", "replay", "--store", tmp_path / "rebuilt", "--from", log)
    assert statuses(bins, tmp_path / "rebuilt") == statuses(bins, store)

    def to_schema_3(database, pairs):
        return [(k, (3).to_bytes(4, "big") if database == "meta" and k == b"schema" else v) for k, v in pairs]
    newer = tmp_path / "newer"
    rewrite_store(store, newer, to_schema_3)
    line = refused(bins, "status", "--store", newer, "--cert", leaf)
    assert "schema 3" in line and "newer" in line, line
    assert "newer" in refused(bins, "migrate", "--store", newer)
