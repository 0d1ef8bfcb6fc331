"""ocspctl: status output, every reason name, and error handling."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from cryptography.x509.oid import NameOID

from ocsp_e2e import (
    EXPECTED, REASON_FLAG, Ocspd, assert_openssl_status, ctl, ctl_ok, ctl_status_json, describe, openssl,
    parse_time, serial_hex, snapshot_tree, utcnow,
)

# ---------------------------------------------------------------------------
# status on the session store
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("leaf", list(EXPECTED))
def test_status_json(bins, pki, store, leaf):
    js = ctl_status_json(bins, store, "--cert", pki.path(leaf))
    status, reason, rev_time = EXPECTED[leaf]
    serial = pki.cert(leaf).serial_number
    assert js.get("status") == status, js
    assert isinstance(js.get("serial"), str) and js["serial"] == js["serial"].upper(), \
        f"serial must be upper-case hex: {js}"
    assert int(js["serial"], 16) == serial, f"serial {js['serial']} != {serial:X}"
    issuer_cn = pki.cert(pki.issuer_of(leaf)).subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert isinstance(js.get("issuer"), str) and issuer_cn in js["issuer"], \
        f"issuer should be the subject of {issuer_cn}: {js}"
    if status == "revoked":
        assert "revocationTime" in js, js
        parsed = parse_time(js["revocationTime"])  # strict 2026-01-02T03:04:05Z format
        if rev_time:
            assert js["revocationTime"] == rev_time, js
        else:
            assert parsed <= utcnow() + dt.timedelta(minutes=5), js
        if reason:
            assert js.get("reason") == reason, js
        else:
            assert "reason" not in js, f"no reason (or unspecified) must print no reason key: {js}"
    else:
        assert "revocationTime" not in js and "reason" not in js, js


@pytest.mark.parametrize("leaf", ["ec-good-serial", "rsa-revoked", "rsa-small-serial", "ec-unknown"])
def test_status_by_issuer_and_serial_matches_by_cert(bins, pki, store, leaf):
    by_cert = ctl_status_json(bins, store, "--cert", pki.path(leaf))
    by_serial = ctl_status_json(bins, store, "--issuer", pki.path(pki.issuer_of(leaf)),
                                "--serial", pki.serial_hex(leaf))
    assert by_cert == by_serial


@pytest.mark.parametrize("leaf", ["ec-good", "ec-revoked", "rsa-unknown"])
def test_status_human(bins, pki, store, leaf):
    proc = ctl(bins, "status", "--store", store, "--cert", pki.path(leaf))
    status = EXPECTED[leaf][0]
    # 3: not found, as `ocspctl --help` documents for a certificate the store does not know (issue 32).
    assert proc.returncode == (3 if status == "unknown" else 0), describe(proc)
    assert status in proc.stdout, f"status word {status!r} missing:" + describe(proc)
    others = {"good", "revoked", "unknown"} - {status}
    assert not any(w in proc.stdout.split() for w in others), describe(proc)


# ---------------------------------------------------------------------------
# a small private store per test (copied from a template built once)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template_store(bins, pki, tmp_path_factory):
    s = tmp_path_factory.mktemp("ctl-template") / "store"
    p = pki.path
    ctl_ok(bins, "init", "--store", s)
    # delegated form with the optional CA key as well
    ctl_ok(bins, "issuer", "add", "--store", s, "--cert", p("ec-root"), "--responder-cert", p("responder"),
           "--responder-key", p("responder.key"), "--key", p("ec-root.key"))
    ctl_ok(bins, "issuer", "add", "--store", s, "--cert", p("rsa-ca"), "--key", p("rsa-ca.key"))
    ctl_ok(bins, "cert", "add", "--store", s, "--cert", p("ec-good"))
    ctl_ok(bins, "cert", "add", "--store", s, "--cert", p("rsa-good"))
    ctl_ok(bins, "cert", "add", "--store", s, "--cert", p("ec-revoked"))
    ctl_ok(bins, "revoke", "--store", s, "--cert", p("ec-revoked"), "--reason", "keyCompromise",
           "--time", "2026-01-02T03:04:05Z")
    return s


@pytest.fixture
def cstore(template_store, tmp_path):
    s = tmp_path / "store"
    shutil.copytree(template_store, s)
    return s


def _baseline(bins, pki, store):
    return {leaf: ctl_status_json(bins, store, "--cert", pki.path(leaf))
            for leaf in ("ec-good", "rsa-good", "ec-revoked")}


def test_revoke_without_time_uses_now(bins, pki, cstore):
    t0 = utcnow().replace(microsecond=0)
    ctl_ok(bins, "revoke", "--store", cstore, "--cert", pki.path("rsa-good"))
    t1 = utcnow()
    js = ctl_status_json(bins, cstore, "--cert", pki.path("rsa-good"))
    assert js["status"] == "revoked" and "reason" not in js, js
    t = parse_time(js["revocationTime"])
    assert t0 - dt.timedelta(seconds=2) <= t <= t1 + dt.timedelta(seconds=2), js


def test_every_reason_name_round_trips(bins, pki, cstore):
    issuer = pki.path("ec-root")
    for i, reason in enumerate(REASON_FLAG):
        serial = f"5E{i:02X}"
        ctl_ok(bins, "cert", "add", "--store", cstore, "--issuer", issuer, "--serial", serial)
        ctl_ok(bins, "revoke", "--store", cstore, "--issuer", issuer, "--serial", serial,
               "--reason", reason, "--time", "2025-06-0%dT10:00:00Z" % (i % 9 + 1))
        js = ctl_status_json(bins, cstore, "--issuer", issuer, "--serial", serial)
        assert js["status"] == "revoked", js
        assert js["revocationTime"] == "2025-06-0%dT10:00:00Z" % (i % 9 + 1), js
        if reason == "unspecified":
            assert "reason" not in js, js
        else:
            assert js.get("reason") == reason, js


# ---------------------------------------------------------------------------
# errors: non-zero exit, exactly one line on stderr, nothing on stdout, store untouched
# ---------------------------------------------------------------------------

def _err_cases():
    # each: id -> function(pki, store, tmp) returning the argument list
    return {
        # missing store
        "status-missing-store": lambda p, s, t: ["status", "--store", t / "nope", "--cert", p.path("ec-good")],
        "cert-add-missing-store": lambda p, s, t: ["cert", "add", "--store", t / "nope", "--cert", p.path("ec-good")],
        "revoke-missing-store": lambda p, s, t: ["revoke", "--store", t / "nope", "--cert", p.path("ec-good")],
        "issuer-add-missing-store": lambda p, s, t: ["issuer", "add", "--store", t / "nope", "--cert",
                                                     p.path("other-ca"), "--key", p.path("other-ca.key")],
        # issuer not in the store
        "cert-add-unknown-issuer-cert": lambda p, s, t: ["cert", "add", "--store", s, "--cert", p.path("other-leaf")],
        "cert-add-unknown-issuer-serial": lambda p, s, t: ["cert", "add", "--store", s, "--issuer",
                                                           p.path("other-ca"), "--serial", "01"],
        "revoke-unknown-issuer-cert": lambda p, s, t: ["revoke", "--store", s, "--cert", p.path("other-leaf")],
        "revoke-unknown-issuer-serial": lambda p, s, t: ["revoke", "--store", s, "--issuer", p.path("other-ca"),
                                                         "--serial", "01", "--reason", "keyCompromise"],
        # bad serial
        "cert-add-serial-XYZ": lambda p, s, t: ["cert", "add", "--store", s, "--issuer", p.path("ec-root"),
                                                "--serial", "XYZ"],
        "revoke-serial-XYZ": lambda p, s, t: ["revoke", "--store", s, "--issuer", p.path("ec-root"),
                                              "--serial", "XYZ"],
        "status-serial-XYZ": lambda p, s, t: ["status", "--store", s, "--issuer", p.path("ec-root"),
                                              "--serial", "XYZ", "--json"],
        "cert-add-serial-G1": lambda p, s, t: ["cert", "add", "--store", s, "--issuer", p.path("rsa-ca"),
                                               "--serial", "12G1"],
        # unreadable key / certificate paths
        "issuer-add-missing-key": lambda p, s, t: ["issuer", "add", "--store", s, "--cert", p.path("other-ca"),
                                                   "--key", t / "missing.key"],
        "issuer-add-key-is-directory": lambda p, s, t: ["issuer", "add", "--store", s, "--cert",
                                                        p.path("other-ca"), "--key", t],
        "issuer-add-missing-responder-key": lambda p, s, t: ["issuer", "add", "--store", s, "--cert",
                                                             p.path("other-ca"), "--responder-cert",
                                                             p.path("responder"), "--responder-key",
                                                             t / "missing.key"],
        "issuer-add-missing-cert": lambda p, s, t: ["issuer", "add", "--store", s, "--cert", t / "missing.pem",
                                                    "--key", p.path("other-ca.key")],
        "cert-add-missing-cert": lambda p, s, t: ["cert", "add", "--store", s, "--cert", t / "missing.pem"],
        "cert-add-key-not-cert": lambda p, s, t: ["cert", "add", "--store", s, "--cert", p.path("leaf-ec.key")],
        # key does not match the certificate
        "issuer-add-wrong-ec-key": lambda p, s, t: ["issuer", "add", "--store", s, "--cert", p.path("other-ca"),
                                                    "--key", p.path("stray.key")],
        "issuer-add-rsa-key-for-ec-cert": lambda p, s, t: ["issuer", "add", "--store", s, "--cert",
                                                           p.path("other-ca"), "--key", p.path("rsa-ca.key")],
        "issuer-add-responder-key-mismatch": lambda p, s, t: ["issuer", "add", "--store", s, "--cert",
                                                              p.path("other-ca"), "--responder-cert",
                                                              p.path("responder"), "--responder-key",
                                                              p.path("stray.key")],
        # unknown reason / bad time
        "revoke-unknown-reason": lambda p, s, t: ["revoke", "--store", s, "--cert", p.path("ec-good"),
                                                  "--reason", "notAReason"],
        "revoke-reason-number": lambda p, s, t: ["revoke", "--store", s, "--cert", p.path("rsa-good"),
                                                 "--reason", "11"],
        "revoke-bad-time": lambda p, s, t: ["revoke", "--store", s, "--cert", p.path("ec-good"),
                                            "--reason", "keyCompromise", "--time", "yesterday"],
        "revoke-impossible-time": lambda p, s, t: ["revoke", "--store", s, "--cert", p.path("rsa-good"),
                                                   "--time", "2026-13-45T25:61:61Z"],
    }


ERR_CASES = _err_cases()


@pytest.mark.parametrize("case", list(ERR_CASES))
def test_cli_error(bins, pki, cstore, tmp_path, case):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    before = _baseline(bins, pki, cstore)
    snap = snapshot_tree(cstore)

    proc = ctl(bins, *ERR_CASES[case](pki, cstore, scratch))

    assert proc.returncode != 0, "expected a non-zero exit status:" + describe(proc)
    err = proc.stderr.strip()
    assert err, "expected an error message on stderr:" + describe(proc)
    assert "\n" not in err, "error message must be exactly one line:" + describe(proc)
    assert proc.stdout.strip() == "", "nothing should be written to stdout on error:" + describe(proc)
    assert not (scratch / "nope").exists(), "a missing store must not be created:" + describe(proc)
    assert snapshot_tree(cstore) == snap, "store files changed by a failed command:" + describe(proc)
    assert _baseline(bins, pki, cstore) == before, "statuses changed by a failed command:" + describe(proc)


def test_cli_error_leaves_issuer_absent(bins, pki, cstore, tmp_path):
    """A failed `issuer add` (wrong key) must not half-register the issuer:
    a later `cert add` under it must still fail."""
    proc = ctl(bins, "issuer", "add", "--store", cstore, "--cert", pki.path("other-ca"),
               "--key", pki.path("stray.key"))
    assert proc.returncode != 0, describe(proc)
    proc = ctl(bins, "cert", "add", "--store", cstore, "--cert", pki.path("other-leaf"))
    assert proc.returncode != 0, "issuer was registered by a failed issuer add:" + describe(proc)


def test_init_then_issuer_add_other_ca_succeeds(bins, pki, cstore):
    """Positive control for the error cases above: the right key is accepted."""
    ctl_ok(bins, "issuer", "add", "--store", cstore, "--cert", pki.path("other-ca"),
           "--key", pki.path("other-ca.key"))
    ctl_ok(bins, "cert", "add", "--store", cstore, "--cert", pki.path("other-leaf"))
    js = ctl_status_json(bins, cstore, "--cert", pki.path("other-leaf"))
    assert js["status"] == "good", js
    assert int(js["serial"], 16) == pki.cert("other-leaf").serial_number
    assert serial_hex(pki.cert("other-leaf")).lstrip("0") == js["serial"].lstrip("0")


# ---------------------------------------------------------------------------
# revoke --serials: an incident's list, batched, idempotent, checked by openssl ocsp
# ---------------------------------------------------------------------------


def test_revoke_a_list_of_serials_then_again(bins, pki, cstore, tmp_path, log_dir):
    issuer = pki.path("ec-root")
    for serial in ("7A01", "7A02"):
        ctl_ok(bins, "cert", "add", "--store", cstore, "--issuer", issuer, "--serial", serial)
    listing = tmp_path / "serials.txt"
    listing.write_text(f"# incident 42\n{pki.serial_hex('ec-good')}\n7a01\n\n7A02  # lower case and comments too\n")
    out = ctl_ok(bins, "revoke", "--store", cstore, "--issuer", issuer, "--serials", listing,
                 "--reason", "keyCompromise", "--time", "2026-03-04T05:06:07Z").stdout
    assert "revoked 3 of 3 listed certificates" in out, out
    for selector in (["--cert", pki.path("ec-good")], ["--issuer", issuer, "--serial", "7A02"]):
        js = ctl_status_json(bins, cstore, *selector)
        assert js["status"] == "revoked" and js["reason"] == "keyCompromise", js
        assert js["revocationTime"] == "2026-03-04T05:06:07Z", js

    # Running the list again changes nothing, not even the revocation time.
    again = ctl_ok(bins, "revoke", "--store", cstore, "--issuer", issuer, "--serials", listing,
                   "--reason", "superseded").stdout
    assert "revoked 0 of 3 listed certificates (3 already revoked)" in again, again
    js = ctl_status_json(bins, cstore, "--cert", pki.path("ec-good"))
    assert js["reason"] == "keyCompromise" and js["revocationTime"] == "2026-03-04T05:06:07Z", js

    # A relying party sees it: openssl ocsp against ocspd on this store.
    server = Ocspd(bins, cstore, log_dir)
    try:
        server.wait_ready()
        cert = str(pki.path("ec-good"))
        proc = openssl("ocsp", "-issuer", issuer, "-cert", cert, "-url", server.url, "-timeout", "10",
                       *pki.verify_args("ec-good"))
        assert_openssl_status(proc, cert, "revoked", reason="keyCompromise")
    finally:
        server.stop()


def test_revoke_list_with_a_bad_line_writes_nothing(bins, pki, cstore, tmp_path):
    listing = tmp_path / "serials.txt"
    listing.write_text(f"{pki.serial_hex('ec-good')}\nnot-hex\n")
    before = _baseline(bins, pki, cstore)
    proc = ctl(bins, "revoke", "--store", cstore, "--issuer", pki.path("ec-root"), "--serials", listing)
    assert proc.returncode != 0, describe(proc)
    err = proc.stderr.strip()
    assert "line 2" in err and "\n" not in err, describe(proc)
    assert _baseline(bins, pki, cstore) == before, "a list with a bad line must revoke nothing"
