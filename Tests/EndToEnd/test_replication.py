"""Beyond one host (issue 25, first part): PostgreSQL as the system of record (`ocspctl
--database`) and ocspd followers (`ocspd --follow`), each with its own LMDB replica, checked with
`openssl ocsp` against every follower and with `psql` against the database. The PostgreSQL server
is Debian's, started by the test in a temporary directory."""
from __future__ import annotations

import datetime as dt
import json
import shutil
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from ocsp_e2e import Ocspd, ctl, ctl_ok, describe, load_cert, openssl, openssl_ok, spki_key_hash, verify_signature
from postgres_server import Postgres

FOLLOWERS = 3
VALIDITY = 86400  # the response validity `ocspctl issuer add` gives by default (1d)


@pytest.fixture()
def postgres():
    server = Postgres()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture()
def site(bins, tmp_path, postgres):
    """A demo PKI; the database made by `ocspctl init --database` and holding its RSA CA and
    three leaves; an admin working copy."""
    demo = tmp_path / "demo"
    ctl_ok(bins, "demo", "--dir", demo, "--url", "http://127.0.0.1:9/")
    admin = tmp_path / "admin"
    ctl_db(bins, postgres, admin, "init")
    ctl_db(bins, postgres, admin, "issuer", "add", "--cert", demo / "rsa-ca.pem", "--key", demo / "rsa-ca.key")
    for name in ("leaf-rsa-01", "leaf-rsa-02", "leaf-rsa-03"):
        ctl_db(bins, postgres, admin, "cert", "add", "--cert", demo / "leaves" / f"{name}.pem")
    return demo, admin


def ctl_db(bins, postgres: Postgres, admin: Path, *args, timeout: float = 120):
    """`ocspctl <args> --store ADMIN --database URL` (the subcommand's own options after it)."""
    return ctl_ok(bins, *args, "--store", admin, "--database", postgres.url, timeout=timeout)


def start_follower(bins, postgres: Postgres, store: Path, log_dir: Path, *extra: str) -> Ocspd:
    server = Ocspd(bins, store, log_dir, extra=["--follow", postgres.url, "--follow-poll-interval", "1s", *extra])
    server.wait_ready()
    return server


def wait_ready(server: Ocspd, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{server.url}readyz", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        assert time.monotonic() < deadline, "follower never became ready" + server.diagnostics()
        time.sleep(0.1)


def openssl_status(demo: Path, leaf: str, server: Ocspd) -> str:
    """good / revoked / unknown as `openssl ocsp` reads (and verifies) it from one follower."""
    proc = openssl("ocsp", "-issuer", demo / "rsa-ca.pem", "-cert", demo / "leaves" / f"{leaf}.pem", "-url", server.url,
                   "-CAfile", demo / "rsa-ca.pem", "-timeout", "10")
    assert "Response verify OK" in proc.stderr + proc.stdout, describe(proc)
    for status in ("good", "revoked", "unknown"):
        if f".pem: {status}" in proc.stdout:
            return status
    raise AssertionError(describe(proc))


def fetch_response(issuer: x509.Certificate, leaf: x509.Certificate, server: Ocspd) -> ocsp.OCSPResponse:
    request = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hashes.SHA1()).build().public_bytes(serialization.Encoding.DER)
    http = urllib.request.Request(server.url, data=request, headers={"Content-Type": "application/ocsp-request"})
    with urllib.request.urlopen(http, timeout=10) as response:
        return ocsp.load_der_ocsp_response(response.read())


def status_by_serial(issuer: x509.Certificate, serial: int, server: Ocspd) -> ocsp.OCSPCertStatus:
    """The status a follower answers for a serial (python cryptography builds and reads it)."""
    name_hash = hashes.Hash(hashes.SHA1())
    name_hash.update(issuer.subject.public_bytes())
    request = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        name_hash.finalize(), spki_key_hash(issuer), serial, hashes.SHA1()).build().public_bytes(serialization.Encoding.DER)
    http = urllib.request.Request(server.url, data=request, headers={"Content-Type": "application/ocsp-request"})
    with urllib.request.urlopen(http, timeout=10) as response:
        answer = ocsp.load_der_ocsp_response(response.read())
    assert answer.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    return answer.certificate_status


def wait_for(predicate, timeout: float, what: str, diagnostics=lambda: "") -> float:
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, f"{what} not within {timeout} s" + diagnostics()
        time.sleep(0.02)
    return time.monotonic() - started


def test_a_revocation_reaches_every_follower_within_a_second(bins, site, postgres, tmp_path, log_dir):
    demo, admin = site
    issuer, leaf = load_cert(demo / "rsa-ca.pem"), load_cert(demo / "leaves" / "leaf-rsa-01.pem")
    followers = [start_follower(bins, postgres, tmp_path / f"follower-{n}", log_dir) for n in range(FOLLOWERS)]
    try:
        for follower in followers:
            wait_ready(follower)
            assert openssl_status(demo, "leaf-rsa-01", follower) == "good"
        ctl_db(bins, postgres, admin, "revoke", "--cert", demo / "leaves" / "leaf-rsa-01.pem", "--reason", "keyCompromise")
        acknowledged = time.monotonic()
        for follower in followers:
            wait_for(lambda: openssl_status(demo, "leaf-rsa-01", follower) == "revoked",
                     1.0 - (time.monotonic() - acknowledged) + 0.5, "revoked on a follower", follower.diagnostics)
        assert time.monotonic() - acknowledged < 1.5
        # PostgreSQL holds the record, the status and the head; every follower's store the same log.
        assert postgres.sql("SELECT status || ' ' || reason FROM ocsp_certificates WHERE serial = '%s'"
                            % format(load_cert(demo / "leaves" / "leaf-rsa-01.pem").serial_number, "X")) == "revoked keyCompromise"
        head = postgres.sql("SELECT sequence FROM ocsp_head")
        for n, follower in enumerate(followers):
            metrics = urllib.request.urlopen(f"{follower.url}metrics", timeout=5).read().decode()
            assert f"ocsp_follower_applied_sequence {float(head)}" in metrics, metrics
            assert "ocsp_follower_connected 1.0" in metrics
        # The untouched leaves are still good everywhere.
        assert {openssl_status(demo, "leaf-rsa-02", f) for f in followers} == {"good"}
        # Interchangeable answers: each follower signs its own, with the issuer's key, for the same
        # status and revocation, over the issuer's validity (python cryptography reads them).
        answers = [fetch_response(issuer, leaf, follower) for follower in followers]
        for answer in answers:
            verify_signature(answer, issuer)
            assert answer.certificate_status == ocsp.OCSPCertStatus.REVOKED
            assert answer.revocation_reason == x509.ReasonFlags.key_compromise
            assert answer.next_update_utc - answer.this_update_utc == dt.timedelta(seconds=VALIDITY)
        assert len({a.revocation_time_utc for a in answers}) == 1
    finally:
        for follower in followers:
            follower.stop()


def test_a_follower_that_was_down_catches_up(bins, site, postgres, tmp_path, log_dir):
    demo, admin = site
    issuer = load_cert(demo / "rsa-ca.pem")
    serials = [0x5E000000 + n for n in range(100)]
    listing = tmp_path / "serials.txt"
    listing.write_text("".join(f"{s:X}\n" for s in serials))
    ctl_db(bins, postgres, admin, "cert", "add", "--issuer", demo / "rsa-ca.pem", "--serials", listing)
    store = tmp_path / "follower"
    follower = start_follower(bins, postgres, store, log_dir)
    wait_ready(follower)
    assert status_by_serial(issuer, serials[0], follower) == ocsp.OCSPCertStatus.GOOD
    follower.proc.send_signal(signal.SIGKILL)
    follower.stop()

    ctl_db(bins, postgres, admin, "revoke", "--issuer", demo / "rsa-ca.pem", "--serials", listing, "--reason", "superseded")
    assert postgres.sql("SELECT count(*) FROM ocsp_certificates WHERE serial LIKE '5E%' AND status = 'revoked' "
                        "AND reason = 'superseded' AND revocation_time IS NOT NULL") == "100"
    follower = start_follower(bins, postgres, store, log_dir)
    try:
        wait_ready(follower)
        statuses = {status_by_serial(issuer, s, follower) for s in serials}
        assert statuses == {ocsp.OCSPCertStatus.REVOKED}, statuses
    finally:
        follower.stop()


def test_followers_serve_through_a_database_restart_and_miss_nothing(bins, site, postgres, tmp_path, log_dir):
    demo, admin = site
    followers = [start_follower(bins, postgres, tmp_path / f"follower-{n}", log_dir) for n in range(2)]
    try:
        for follower in followers:
            wait_ready(follower)
        ctl_db(bins, postgres, admin, "revoke", "--cert", demo / "leaves" / "leaf-rsa-02.pem")
        for follower in followers:
            wait_for(lambda: openssl_status(demo, "leaf-rsa-02", follower) == "revoked", 2, "revoked", follower.diagnostics)

        postgres.stop()
        # The database is down: followers answer from their stores; a write is refused in one line.
        refused = ctl(bins, "revoke", "--cert", demo / "leaves" / "leaf-rsa-03.pem", "--store", admin, "--database", postgres.url)
        assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1, describe(refused)
        assert "cannot connect" in refused.stderr
        time.sleep(1.5)
        for follower in followers:
            assert openssl_status(demo, "leaf-rsa-02", follower) == "revoked"
            assert openssl_status(demo, "leaf-rsa-03", follower) == "good"
            metrics = urllib.request.urlopen(f"{follower.url}metrics", timeout=5).read().decode()
            assert "ocsp_follower_connected 0.0" in metrics

        # A follower restarted while the database is down waits up to max-lag for it, then serves its store.
        followers[1].stop()
        followers[1] = start_follower(bins, postgres, tmp_path / "follower-1", log_dir, "--follow-max-lag", "2s")
        restarted = time.monotonic()
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"{followers[1].url}readyz", timeout=5)
        wait_ready(followers[1], timeout=10)
        assert time.monotonic() - restarted >= 1.5
        assert openssl_status(demo, "leaf-rsa-02", followers[1]) == "revoked"

        postgres.start()
        ctl_db(bins, postgres, admin, "revoke", "--cert", demo / "leaves" / "leaf-rsa-03.pem")
        for follower in followers:
            # Reconnecting backs off up to 5 s.
            wait_for(lambda: openssl_status(demo, "leaf-rsa-03", follower) == "revoked", 15, "revoked after the restart",
                     follower.diagnostics)
            assert "follower lost the database" in follower.stderr_text()
    finally:
        for follower in followers:
            follower.stop()


def test_a_follower_written_to_locally_stops_following_and_says_so(bins, site, postgres, tmp_path, log_dir):
    demo, admin = site
    store = tmp_path / "follower"
    follower = start_follower(bins, postgres, store, log_dir)
    try:
        wait_ready(follower)
        # Someone writes to the replica directly: its log is no longer the database's.
        ctl_ok(bins, "revoke", "--store", store, "--cert", demo / "leaves" / "leaf-rsa-01.pem")
        ctl_db(bins, postgres, admin, "revoke", "--cert", demo / "leaves" / "leaf-rsa-02.pem")

        def not_ready() -> bool:
            try:
                urllib.request.urlopen(f"{follower.url}readyz", timeout=5)
                return False
            except urllib.error.HTTPError as error:
                return error.code == 503 and "follower stopped" in error.read().decode()
        wait_for(not_ready, 10, "/readyz 503 with the follower's fault", follower.diagnostics)
        assert "is not a prefix of the database" in follower.stderr_text()
    finally:
        follower.stop()


def test_database_errors_are_one_line_and_write_nothing(bins, site, postgres, tmp_path):
    demo, admin = site
    head = postgres.sql("SELECT sequence FROM ocsp_head")
    bad = ctl(bins, "revoke", "--cert", demo / "leaves" / "leaf-rsa-01.pem", "--store", admin,
              "--database", "mysql://nowhere/")
    assert bad.returncode == 1 and "is not a database URL" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    # A refused write (revoking twice without --force) commits nothing.
    ctl_db(bins, postgres, admin, "revoke", "--cert", demo / "leaves" / "leaf-rsa-01.pem")
    again = ctl(bins, "revoke", "--cert", demo / "leaves" / "leaf-rsa-01.pem", "--store", admin, "--database", postgres.url)
    assert again.returncode == 1, describe(again)
    assert int(postgres.sql("SELECT sequence FROM ocsp_head")) == int(head) + 1
    # A database without our schema says how to make it.
    postgres.sql("CREATE DATABASE empty")
    empty = ctl(bins, "status", "--cert", demo / "leaves" / "leaf-rsa-01.pem", "--store", tmp_path / "other",
                "--database", postgres.url.rsplit("/", 1)[0] + "/empty")
    assert empty.returncode == 1 and "ocspctl init --database" in empty.stderr, describe(empty)
    # The working copy is a cache: removed, it is made again from the database.
    shutil.rmtree(admin)
    status = ctl_db(bins, postgres, admin, "status", "--cert", demo / "leaves" / "leaf-rsa-01.pem", "--json")
    assert json.loads(status.stdout)["status"] == "revoked"


def test_an_embedded_store_moves_into_an_empty_database(bins, postgres, tmp_path, log_dir):
    demo = tmp_path / "demo"
    ctl_ok(bins, "demo", "--dir", demo, "--url", "http://127.0.0.1:9/")  # leaf-ec-02 is revoked in it
    store = demo / "store"
    other = tmp_path / "other"
    ctl_ok(bins, "demo", "--dir", other, "--url", "http://127.0.0.1:9/")
    # Not this database's working copy: refused, and nothing of it removed.
    refused = ctl(bins, "status", "--cert", demo / "leaves" / "leaf-ec-01.pem", "--store", store, "--database", postgres.url)
    assert refused.returncode == 1, describe(refused)
    ctl_ok(bins, "init", "--store", store, "--database", postgres.url)
    assert int(postgres.sql("SELECT sequence FROM ocsp_head")) > 10
    assert postgres.sql("SELECT count(*) FROM ocsp_issuers") == "2"
    assert (store / "data.mdb").exists()
    # Now a working copy: writes go on through the database, and a follower has all of it.
    ctl_db(bins, postgres, store, "revoke", "--cert", demo / "leaves" / "leaf-ec-03.pem")
    follower = start_follower(bins, postgres, tmp_path / "follower", log_dir)
    try:
        wait_ready(follower)
        for leaf, expected in (("leaf-ec-01", "good"), ("leaf-ec-02", "revoked"), ("leaf-ec-03", "revoked")):
            proc = openssl("ocsp", "-issuer", demo / "ec-root.pem", "-cert", demo / "leaves" / f"{leaf}.pem",
                           "-url", follower.url, "-CAfile", demo / "ec-root.pem")
            assert f".pem: {expected}" in proc.stdout, describe(proc)
        # Another store is not taken for the database's working copy, and is left as it was.
        before = sorted(p.name for p in (other / "store").iterdir())
        other_refused = ctl(bins, "revoke", "--cert", other / "leaves" / "leaf-ec-01.pem", "--store", other / "store",
                            "--database", postgres.url)
        assert other_refused.returncode == 1 and "is not a working copy" in other_refused.stderr, describe(other_refused)
        assert sorted(p.name for p in (other / "store").iterdir()) == before
    finally:
        follower.stop()


def test_the_database_over_tls_verified_by_its_ca(bins, tmp_path, log_dir):
    """sslmode=verify-full with sslrootcert: the server's certificate must chain to the given CA and
    name the host; a CA that did not issue it is refused in one line."""
    ca_key, ca_cert = tmp_path / "db-ca.key", tmp_path / "db-ca.pem"
    key, csr, cert = tmp_path / "db.key", tmp_path / "db.csr", tmp_path / "db.pem"
    openssl_ok("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", ca_key,
               "-subj", "/CN=Database CA", "-days", "2", "-out", ca_cert)
    openssl_ok("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
               "-subj", "/CN=127.0.0.1", "-out", csr)
    extensions = tmp_path / "san.cnf"
    extensions.write_text("subjectAltName = IP:127.0.0.1\n")
    openssl_ok("x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-days", "2", "-extfile", extensions,
               "-out", cert)
    other_key, other_ca = tmp_path / "other.key", tmp_path / "other.pem"
    openssl_ok("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", other_key,
               "-subj", "/CN=Another CA", "-days", "2", "-out", other_ca)
    postgres = Postgres(tls=(cert, key))
    try:
        url = f"{postgres.url}?sslmode=verify-full&sslrootcert={ca_cert}"
        demo = tmp_path / "demo"
        ctl_ok(bins, "demo", "--dir", demo, "--url", "http://127.0.0.1:9/")
        admin = tmp_path / "admin"
        ctl_ok(bins, "init", "--store", admin, "--database", url)
        ctl_ok(bins, "issuer", "add", "--cert", demo / "rsa-ca.pem", "--key", demo / "rsa-ca.key", "--store", admin, "--database", url)
        assert postgres.sql("SELECT count(*) FROM ocsp_issuers") == "1"
        refused = ctl(bins, "status", "--issuer", demo / "rsa-ca.pem", "--serial", "01", "--store", admin,
                      "--database", f"{postgres.url}?sslmode=verify-full&sslrootcert={other_ca}")
        assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1, describe(refused)
        bad_mode = ctl(bins, "status", "--issuer", demo / "rsa-ca.pem", "--serial", "01", "--store", admin,
                       "--database", f"{postgres.url}?sslmode=sometimes")
        assert bad_mode.returncode == 1 and "sslmode=sometimes" in bad_mode.stderr, describe(bad_mode)
        follower = start_follower_with(bins, url, tmp_path / "follower", log_dir)
        try:
            wait_ready(follower)
            assert "ocsp_follower_connected 1.0" in urllib.request.urlopen(f"{follower.url}metrics", timeout=5).read().decode()
            # PostgreSQL's own view: the follower's two connections (queries, LISTEN) are TLS.
            assert int(postgres.sql("SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
                                    "WHERE s.ssl AND a.pid <> pg_backend_pid() AND a.backend_type = 'client backend'")) >= 2
        finally:
            follower.stop()
    finally:
        postgres.remove()


def start_follower_with(bins, url: str, store: Path, log_dir: Path) -> Ocspd:
    server = Ocspd(bins, store, log_dir, extra=["--follow", url])
    server.wait_ready()
    return server
