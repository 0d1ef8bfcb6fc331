"""The database fails over, or its link falls silent: PostgreSQL through libpq.

* A primary with a synchronous streaming standby, named together in one multi-host URL with
  target_session_attrs=read-write. Revocations are written at a steady rate through `ocspctl
  --database` while three followers replay them; the primary is killed (`pg_ctl stop -m
  immediate`) and the standby promoted. Every acknowledged revocation reaches every follower,
  writes resume soon after the promotion, the followers answer OCSP throughout, and every
  refused write says so in one line that does not carry the password.
* A follower behind a TCP proxy that stops forwarding without closing anything (a black hole):
  it notices within its deadlines (a log line, `ocsp_follower_connected 0`) while answering from
  its store, reconnects when the link forwards again, applies what was written meanwhile, and
  stops on SIGTERM within its shutdown timeout even while the link is silent again.

`pytest -s` shows the figures (print)."""
from __future__ import annotations

import http.client
import json
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from ocsp_e2e import Ocspd, ctl, ctl_ok, describe, load_cert, spki_key_hash
from postgres_server import Postgres, multi_host_url
from silent_proxy import SilentProxy

# A password the URLs carry (scram-sha-256): no output of ocspctl or ocspd may show it.
PASSWORD = "Fa1lover-pw-7c41d9e2"

FOLLOWERS = 3
WRITERS = 8                 # ocspctl processes at a time, each with its own working copy
RATE = 20.0                 # revocations started per second, at most
DRIVE_SECONDS = 25.0        # how long revocations are started
KILL_AFTER = 5.0            # the primary is killed this long after the first revocation started
PROMOTE_AFTER_KILL = 1.0    # the standby is promoted this long after the kill
RESUME_BOUND = 10.0         # after the promotion, writes are acknowledged again within this
CALL_TIMEOUT = 30.0         # one ocspctl call (its own deadlines are about 10 s)
VISIBLE_BOUND = 30.0        # an acknowledged revocation is revoked on every follower within this
POLL_EVERY = 0.1            # each follower is asked for a good certificate this often
POLL_TIMEOUT = 2.0          # an answer slower than this counts as none

SERIAL_BASE = 0x5F000000
GOOD_SERIAL = 0x5EFFFFFF    # added, never revoked: what the pollers ask for


# ---------------------------------------------------------------------------------------------
# OCSP and /metrics from a follower
# ---------------------------------------------------------------------------------------------

class OcspAsker:
    """Builds OCSP requests by serial for one issuer (python cryptography), and reads answers."""

    def __init__(self, issuer: x509.Certificate):
        name_hash = hashes.Hash(hashes.SHA1())
        name_hash.update(issuer.subject.public_bytes())
        self.name_hash = name_hash.finalize()
        self.key_hash = spki_key_hash(issuer)
        self._requests: dict[int, bytes] = {}

    def request(self, serial: int) -> bytes:
        if serial not in self._requests:
            self._requests[serial] = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
                self.name_hash, self.key_hash, serial, hashes.SHA1()).build().public_bytes(serialization.Encoding.DER)
        return self._requests[serial]

    def status(self, port: int, serial: int, timeout: float = 10, connection: http.client.HTTPConnection | None = None
               ) -> ocsp.OCSPCertStatus:
        """The status one follower answers (raises on no answer, or not a successful one)."""
        own = connection is None
        if own:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            connection.request("POST", "/", body=self.request(serial), headers={"Content-Type": "application/ocsp-request"})
            response = connection.getresponse()
            body = response.read()
        finally:
            if own:
                connection.close()
        if response.status != 200:
            raise AssertionError(f"HTTP {response.status}: {body[:200]!r}")
        answer = ocsp.load_der_ocsp_response(body)
        if answer.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
            raise AssertionError(f"responseStatus {answer.response_status}")
        if answer.serial_number != serial:
            raise AssertionError(f"answered serial {answer.serial_number:X}, asked {serial:X}")
        return answer.certificate_status


def metrics(follower: Ocspd) -> str:
    with urllib.request.urlopen(f"{follower.url}metrics", timeout=5) as response:
        return response.read().decode()


def metric(follower: Ocspd, name: str) -> float | None:
    match = re.search(rf"^{re.escape(name)}(?:{{[^}}]*}})?\s+(\S+)\s*$", metrics(follower), re.MULTILINE)
    return float(match.group(1)) if match else None


def wait_ready(follower: Ocspd, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        try:
            with urllib.request.urlopen(f"{follower.url}readyz", timeout=5) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as error:
            last = f"HTTP {error.code}: {error.read()[:300]!r}"
        except OSError as error:
            last = str(error)
        assert time.monotonic() < deadline, f"follower not ready within {timeout} s ({last})" + follower.diagnostics()
        time.sleep(0.1)


def wait_for(predicate, timeout: float, what: str, diagnostics=lambda: "") -> float:
    """Seconds until `predicate()` held; fails after `timeout`."""
    started = time.monotonic()
    while True:
        try:
            if predicate():
                return time.monotonic() - started
        except (OSError, http.client.HTTPException):
            pass
        assert time.monotonic() - started < timeout, f"{what}: not within {timeout} s" + diagnostics()
        time.sleep(0.05)


def start_follower(bins, url: str, store: Path, log_dir: Path, *extra: str) -> Ocspd:
    follower = Ocspd(bins, store, log_dir, extra=["--follow", url, "--follow-poll-interval", "1s", *extra])
    follower.wait_ready()
    return follower


class Poller:
    """Asks each follower for a good certificate every POLL_EVERY s, on a new connection each
    time; counts answers that did not come within POLL_TIMEOUT or were not `good`."""

    def __init__(self, asker: OcspAsker, followers: list[Ocspd], serial: int):
        self.asker, self.followers, self.serial = asker, followers, serial
        self.asked = 0
        self.failures: list[str] = []
        self.slowest = 0.0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(f,), daemon=True) for f in followers]

    def start(self) -> "Poller":
        for thread in self._threads:
            thread.start()
        return self

    def _run(self, follower: Ocspd) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                status = self.asker.status(follower.port, self.serial, timeout=POLL_TIMEOUT)
                if status != ocsp.OCSPCertStatus.GOOD:
                    raise AssertionError(f"status {status}")
            except Exception as error:  # noqa: BLE001 - every kind of non-answer counts
                self.failures.append(f"{time.strftime('%H:%M:%S')} port {follower.port}: {type(error).__name__}: {error}")
            took = time.monotonic() - started
            self.asked += 1
            self.slowest = max(self.slowest, took)
            self._stop.wait(max(0.0, POLL_EVERY - took))

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=POLL_TIMEOUT + 5)


# ---------------------------------------------------------------------------------------------
# failover
# ---------------------------------------------------------------------------------------------

@pytest.fixture()
def cluster():
    """A primary and its synchronous standby, streaming."""
    primary = Postgres(password=PASSWORD, synchronous_standby="standby1")
    standby = None
    try:
        standby = Postgres.standby_of(primary, "standby1")
        primary.wait_synchronous("standby1")
        assert standby.in_recovery()
        yield primary, standby
    finally:
        primary.remove()
        if standby is not None:
            standby.remove()


@dataclass
class Call:
    """One `ocspctl revoke`, times in time.monotonic()."""
    serial: int
    writer: int
    started: float
    ended: float
    returncode: int | None  # None: killed after CALL_TIMEOUT
    stdout: str
    stderr: str

    @property
    def acknowledged(self) -> bool:
        return self.returncode == 0


class Visibility:
    """For each follower, a thread asking it for each acknowledged serial until it answers
    `revoked`; keeps when it first did."""

    def __init__(self, asker: OcspAsker, followers: list[Ocspd]):
        self.asker, self.followers = asker, followers
        self._lock = threading.Lock()
        self._pending: list[dict[int, float]] = [{} for _ in followers]
        self.seen: list[dict[int, float]] = [{} for _ in followers]
        self.errors = [0 for _ in followers]
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(len(followers))]

    def start(self) -> "Visibility":
        for thread in self._threads:
            thread.start()
        return self

    def acknowledged(self, serial: int, at: float) -> None:
        with self._lock:
            for pending in self._pending:
                pending[serial] = at

    def pending(self) -> int:
        with self._lock:
            return sum(len(p) for p in self._pending)

    def _run(self, n: int) -> None:
        connection: http.client.HTTPConnection | None = None
        while not self._stop.is_set():
            with self._lock:
                serials = list(self._pending[n])
            for serial in serials:
                if self._stop.is_set():
                    break
                try:
                    if connection is None:
                        connection = http.client.HTTPConnection("127.0.0.1", self.followers[n].port, timeout=5)
                    status = self.asker.status(self.followers[n].port, serial, connection=connection)
                except Exception:  # noqa: BLE001 - the Poller judges availability; ask again
                    self.errors[n] += 1
                    if connection is not None:
                        connection.close()
                    connection = None
                    continue
                if status == ocsp.OCSPCertStatus.REVOKED:
                    now = time.monotonic()
                    with self._lock:
                        self._pending[n].pop(serial, None)
                        self.seen[n][serial] = now
            self._stop.wait(0.02)
        if connection is not None:
            connection.close()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)


def test_failover_to_the_synchronous_standby_loses_no_acknowledged_revocation(bins, cluster, tmp_path, log_dir):
    primary, standby = cluster
    url = multi_host_url([primary, standby], target_session_attrs="read-write")
    demo = tmp_path / "demo"
    ctl_ok(bins, "demo", "--dir", demo, "--url", "http://127.0.0.1:9/")
    ca = demo / "rsa-ca.pem"
    issuer = load_cert(ca)
    asker = OcspAsker(issuer)
    serials = [SERIAL_BASE + n for n in range(int(RATE * DRIVE_SECONDS) + 50)]
    listing = tmp_path / "serials.txt"
    listing.write_text("".join(f"{s:X}\n" for s in [GOOD_SERIAL, *serials]))
    admin = tmp_path / "admin"
    for args in (["init"], ["issuer", "add", "--cert", ca, "--key", demo / "rsa-ca.key"],
                 ["cert", "add", "--issuer", ca, "--serials", listing]):
        ctl_ok(bins, *args, "--store", admin, "--database", url, timeout=120)
    # Each writer's working copy, made before the clock starts.
    for w in range(WRITERS):
        status = ctl(bins, "status", "--issuer", ca, "--serial", f"{GOOD_SERIAL:X}", "--json",
                     "--store", tmp_path / f"writer-{w}", "--database", url)
        assert status.returncode == 0 and json.loads(status.stdout)["status"] == "good", describe(status)

    followers: list[Ocspd] = []
    poller: Poller | None = None
    visibility: Visibility | None = None
    try:
        for n in range(FOLLOWERS):
            followers.append(start_follower(bins, url, tmp_path / f"follower-{n}", log_dir))
        for follower in followers:
            wait_ready(follower)
            assert asker.status(follower.port, GOOD_SERIAL) == ocsp.OCSPCertStatus.GOOD
            assert metric(follower, "ocsp_follower_connected") == 1.0, metrics(follower)
        primary.wait_synchronous("standby1")

        poller = Poller(asker, followers, GOOD_SERIAL).start()
        visibility = Visibility(asker, followers).start()
        calls: list[Call] = []
        calls_lock = threading.Lock()
        next_index = [0]
        start = time.monotonic() + 0.5

        def writer(w: int) -> None:
            store = tmp_path / f"writer-{w}"
            while True:
                with calls_lock:
                    index = next_index[0]
                    next_index[0] += 1
                due = start + index / RATE
                if due >= start + DRIVE_SECONDS or index >= len(serials):
                    return
                time.sleep(max(0.0, due - time.monotonic()))
                serial = serials[index]
                command = [str(bins.ocspctl), "revoke", "--issuer", str(ca), "--serial", f"{serial:X}",
                           "--reason", "keyCompromise", "--store", str(store), "--database", url]
                began = time.monotonic()
                try:
                    proc = subprocess.run(command, capture_output=True, text=True, timeout=CALL_TIMEOUT,
                                          stdin=subprocess.DEVNULL)
                    returncode, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
                except subprocess.TimeoutExpired as expired:
                    returncode = None
                    stdout = expired.stdout.decode(errors="replace") if isinstance(expired.stdout, bytes) else (expired.stdout or "")
                    stderr = expired.stderr.decode(errors="replace") if isinstance(expired.stderr, bytes) else (expired.stderr or "")
                ended = time.monotonic()
                call = Call(serial, w, began, ended, returncode, stdout, stderr)
                if call.acknowledged:
                    visibility.acknowledged(serial, ended)
                with calls_lock:
                    calls.append(call)

        writers = [threading.Thread(target=writer, args=(w,), daemon=True) for w in range(WRITERS)]
        for thread in writers:
            thread.start()
        kill_at = promote_started = promote_done = None
        try:
            time.sleep(max(0.0, start + KILL_AFTER - time.monotonic()))
            kill_at = time.monotonic()
            primary.kill_immediately()
            time.sleep(max(0.0, kill_at + PROMOTE_AFTER_KILL - time.monotonic()))
            promote_started = time.monotonic()
            standby.promote()
            promote_done = time.monotonic()
        finally:
            for thread in writers:
                thread.join(timeout=DRIVE_SECONDS + CALL_TIMEOUT + 10)
        assert not any(thread.is_alive() for thread in writers), "a writer did not finish"
        drive_ended = time.monotonic()

        # Everything acknowledged reaches every follower (bounded).
        acknowledged = sorted((c for c in calls if c.acknowledged), key=lambda c: c.ended)
        failed = sorted((c for c in calls if not c.acknowledged), key=lambda c: c.started)
        last_ack = max((c.ended for c in acknowledged), default=drive_ended)
        deadline = max(drive_ended, last_ack + VISIBLE_BOUND)
        while visibility.pending() and time.monotonic() < deadline:
            time.sleep(0.1)
        visibility.stop()
        poller.stop()

        def when(at: float | None) -> str:
            return "-" if at is None else f"{at - start:.2f} s"

        # The old primary is gone a second before the promotion begins: what is acknowledged after
        # that was committed by the promoted standby (pg_ctl promote -w returns a little after it
        # takes writes).
        first_after_promotion = next((c for c in acknowledged if c.ended > promote_started), None)
        delays = {}
        for c in acknowledged:
            seen = [v.get(c.serial) for v in visibility.seen]
            if all(s is not None for s in seen):
                delays[c.serial] = max(seen) - c.ended
        unseen = [c for c in acknowledged if c.serial not in delays]
        worst = max(delays.items(), key=lambda kv: kv[1], default=(None, None))
        by_serial = {c.serial: c for c in acknowledged}
        print(f"\n[failover] revocations started {len(calls)} over {DRIVE_SECONDS:.0f} s by {WRITERS} writers "
              f"(target {RATE:.0f}/s, achieved {len(calls) / DRIVE_SECONDS:.1f}/s)")
        durations = sorted(c.ended - c.started for c in acknowledged)
        if durations:
            print(f"[failover] an acknowledged call took: median {durations[len(durations) // 2] * 1000:.0f} ms, "
                  f"max {durations[-1] * 1000:.0f} ms")
        print(f"[failover] acknowledged {len(acknowledged)}, failed {len(failed)} "
              f"(exit codes {sorted({str(c.returncode) for c in failed})}, timed out {sum(c.returncode is None for c in failed)})")
        print(f"[failover] kill at {when(kill_at)}, promote {when(promote_started)}..{when(promote_done)} "
              f"(pg_ctl promote took {promote_done - promote_started:.2f} s)")
        print(f"[failover] last ack before the kill {when(max((c.ended for c in acknowledged if c.ended < kill_at), default=None))}; "
              f"first ack after the promotion {when(first_after_promotion.ended if first_after_promotion else None)} = "
              + (f"{first_after_promotion.ended - promote_started:.2f} s after the promotion began, "
                 f"{first_after_promotion.ended - kill_at:.2f} s after the kill" if first_after_promotion else "never"))
        if failed:
            print(f"[failover] failed calls started between {when(failed[0].started)} and {when(failed[-1].started)}; e.g. "
                  + " | ".join(sorted({c.stderr.strip()[:200] for c in failed if c.returncode is not None})[:4]))
        if worst[0] is not None:
            c = by_serial[worst[0]]
            print(f"[failover] visible on every follower: max {worst[1]:.2f} s after the ack (serial {c.serial:X}, acked at "
                  f"{when(c.ended)}), median {sorted(delays.values())[len(delays) // 2]:.3f} s; not seen {len(unseen)}")
        print(f"[failover] OCSP polls {poller.asked}, unanswered {len(poller.failures)}, slowest {poller.slowest * 1000:.0f} ms; "
              f"visibility-probe errors per follower {visibility.errors}")

        # -- the assertions ------------------------------------------------------------------
        timed_out = [c for c in calls if c.returncode is None]
        assert not timed_out, f"{len(timed_out)} ocspctl calls still ran after {CALL_TIMEOUT} s, e.g. serial " \
                              f"{timed_out[0].serial:X} started at {when(timed_out[0].started)}: {timed_out[0].stderr!r}"
        for c in calls:
            assert PASSWORD not in c.stdout + c.stderr, f"ocspctl printed the password: {c.stdout!r} {c.stderr!r}"
        # (The ones killed by the test were caught above.)
        not_one_line = [c for c in failed if c.returncode is not None and len(c.stderr.strip().splitlines()) != 1]
        assert not not_one_line, f"{len(not_one_line)} of {len(failed)} failed ocspctl calls did not print exactly one " \
                                 f"line on stderr, e.g. (serial {not_one_line[0].serial:X}, exit {not_one_line[0].returncode}): " \
                                 f"{not_one_line[0].stderr!r}"
        assert any(c.ended < kill_at for c in acknowledged), "nothing was acknowledged before the kill"
        early = [c for c in failed if c.ended < kill_at]
        assert not early, f"a write failed before the primary was killed: {early[0].stderr.strip()!r}"
        assert first_after_promotion is not None, "no write was acknowledged after the promotion"
        assert first_after_promotion.ended - promote_started <= RESUME_BOUND, \
            f"writes resumed {first_after_promotion.ended - promote_started:.2f} s after the promotion (bound {RESUME_BOUND} s)"
        late = [c for c in failed if c.started > promote_done + RESUME_BOUND]
        assert not late, f"{len(late)} writes started more than {RESUME_BOUND} s after the promotion failed, e.g. " \
                         f"writer {late[0].writer} at {when(late[0].started)}: {late[0].stderr.strip()!r}"
        assert not poller.failures, f"followers did not answer {len(poller.failures)} of {poller.asked} polls:\n" \
                                    + "\n".join(poller.failures[:20])
        assert not unseen, f"{len(unseen)} acknowledged revocations not revoked on every follower within " \
                           f"{VISIBLE_BOUND} s, e.g. {[format(c.serial, 'X') for c in unseen[:10]]}" \
                           + "".join(f.diagnostics()[-3000:] for f in followers)
        assert worst[1] <= VISIBLE_BOUND
        # A last look, each serial on each follower afresh; and the new primary holds them all.
        for follower in followers:
            connection = http.client.HTTPConnection("127.0.0.1", follower.port, timeout=10)
            try:
                for c in acknowledged:
                    assert asker.status(follower.port, c.serial, connection=connection) == ocsp.OCSPCertStatus.REVOKED, \
                        f"serial {c.serial:X} acknowledged, not revoked on follower {follower.port}"
            finally:
                connection.close()
        revoked = set(standby.sql("SELECT serial FROM ocsp_certificates WHERE status = 'revoked'").split())
        missing = [format(c.serial, "X") for c in acknowledged if format(c.serial, "X") not in revoked]
        assert not missing, f"acknowledged but not revoked in the promoted database: {missing[:10]}"
        head = float(standby.sql("SELECT sequence FROM ocsp_head"))
        for follower in followers:
            wait_for(lambda: metric(follower, "ocsp_follower_applied_sequence") == head, 15,
                     f"follower {follower.port} applied the promoted database's head {head}",
                     lambda: "\n" + metrics(follower))
            assert metric(follower, "ocsp_follower_connected") == 1.0
            assert PASSWORD not in follower.stderr_text(), "a follower logged the password"
    finally:
        if poller is not None:
            poller.stop()
        if visibility is not None:
            visibility.stop()
        for follower in followers:
            follower.stop()


# ---------------------------------------------------------------------------------------------
# a silent link
# ---------------------------------------------------------------------------------------------

LOSS_BOUND = 30.0       # the follower notices a silent database within this
APPLY_BOUND = 30.0      # ... and, the link back, applies a new revocation within this
SHUTDOWN_TIMEOUT = 10   # --shutdown-timeout given to the follower
EXIT_BOUND = 15.0       # SIGTERM with the link silent: the follower is gone within this


def database_complaints(text: str) -> list[str]:
    """The follower's warning / error / critical log lines (JSON, one per line) about the database."""
    found = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("level") in ("warning", "error", "critical") \
                and re.search(r"database|postgres", line, re.IGNORECASE):
            found.append(line)
    return found


def test_a_follower_notices_a_silent_database_link_and_recovers(bins, tmp_path, log_dir):
    postgres = Postgres()
    proxy: SilentProxy | None = None
    follower: Ocspd | None = None
    poller: Poller | None = None
    try:
        proxy = SilentProxy(postgres.port)
        demo = tmp_path / "demo"
        ctl_ok(bins, "demo", "--dir", demo, "--url", "http://127.0.0.1:9/")
        ca = demo / "rsa-ca.pem"
        asker = OcspAsker(load_cert(ca))
        good, later = (load_cert(demo / "leaves" / f"{name}.pem").serial_number for name in ("leaf-rsa-01", "leaf-rsa-02"))
        admin = tmp_path / "admin"
        for args in (["init"], ["issuer", "add", "--cert", ca, "--key", demo / "rsa-ca.key"],
                     ["cert", "add", "--cert", demo / "leaves" / "leaf-rsa-01.pem"],
                     ["cert", "add", "--cert", demo / "leaves" / "leaf-rsa-02.pem"]):
            ctl_ok(bins, *args, "--store", admin, "--database", postgres.url)

        through_proxy = f"postgres://postgres@127.0.0.1:{proxy.port}/postgres"
        follower = start_follower(bins, through_proxy, tmp_path / "follower", log_dir,
                                  "--log-format", "json", "--shutdown-timeout", f"{SHUTDOWN_TIMEOUT}s")
        wait_ready(follower)
        assert asker.status(follower.port, good) == ocsp.OCSPCertStatus.GOOD
        assert asker.status(follower.port, later) == ocsp.OCSPCertStatus.GOOD
        assert metric(follower, "ocsp_follower_connected") == 1.0, metrics(follower)
        assert proxy.forwarded >= 1, "the follower does not go through the proxy"
        poller = Poller(asker, [follower], good).start()

        # 1. Silence: the follower says so, in its log and its metrics, and answers meanwhile.
        logged_before = len(follower.stderr_text())
        proxy.freeze()
        frozen_at = time.monotonic()
        noticed_log = noticed_metric = None
        while noticed_log is None or noticed_metric is None:
            now = time.monotonic()
            if noticed_log is None and database_complaints(follower.stderr_text()[logged_before:]):
                noticed_log = now - frozen_at
            try:
                if noticed_metric is None and metric(follower, "ocsp_follower_connected") == 0.0:
                    noticed_metric = now - frozen_at
            except OSError:
                pass  # /metrics not answered: the poller counts the follower's silences
            if now - frozen_at > LOSS_BOUND:
                break
            time.sleep(0.1)
        complaints = database_complaints(follower.stderr_text()[logged_before:])
        print(f"\n[silent link] noticed after: log {noticed_log if noticed_log is None else round(noticed_log, 2)} s, "
              f"ocsp_follower_connected 0 {noticed_metric if noticed_metric is None else round(noticed_metric, 2)} s")
        if complaints:
            print(f"[silent link] first complaint: {complaints[0][:300]}")
        assert noticed_log is not None, f"no warning/error about the database logged within {LOSS_BOUND} s of the silence" \
                                        + follower.diagnostics()
        assert noticed_metric is not None, f"ocsp_follower_connected still {metric(follower, 'ocsp_follower_connected')} " \
                                           f"{LOSS_BOUND} s into the silence" + follower.diagnostics()
        assert asker.status(follower.port, good) == ocsp.OCSPCertStatus.GOOD

        # 2. The link back (new connections only): a revocation made meanwhile is applied.
        proxy.thaw()
        thawed_at = time.monotonic()
        ctl_ok(bins, "revoke", "--cert", demo / "leaves" / "leaf-rsa-02.pem", "--store", admin, "--database", postgres.url)
        acked = time.monotonic()
        applied = wait_for(lambda: asker.status(follower.port, later) == ocsp.OCSPCertStatus.REVOKED, APPLY_BOUND,
                           "the revocation made while the link was silent applied", follower.diagnostics)
        wait_for(lambda: metric(follower, "ocsp_follower_connected") == 1.0, 10, "ocsp_follower_connected 1 again",
                 follower.diagnostics)
        print(f"[silent link] after the link came back: applied {acked - thawed_at + applied:.2f} s "
              f"({applied:.2f} s after the ack); new connections through the proxy {proxy.forwarded_since_thaw}")
        assert proxy.forwarded_since_thaw >= 1, "the follower applied it without connecting anew through the proxy"

        # 3. Silent again, mid-call: SIGTERM still stops it within its shutdown timeout.
        poller.stop()
        assert not poller.failures, f"the follower did not answer {len(poller.failures)} of {poller.asked} polls " \
                                    f"(slowest {poller.slowest:.2f} s):\n" + "\n".join(poller.failures[:20])
        print(f"[silent link] OCSP polls {poller.asked}, unanswered 0, slowest {poller.slowest * 1000:.0f} ms")
        proxy.freeze()
        time.sleep(3)  # past a poll interval: a query or probe is waiting on the silent link
        assert follower.proc.poll() is None, "the follower exited on its own" + follower.diagnostics()
        signalled = time.monotonic()
        follower.proc.send_signal(signal.SIGTERM)
        try:
            follower.proc.wait(timeout=EXIT_BOUND)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the follower still ran {EXIT_BOUND} s after SIGTERM with the link silent "
                        f"(--shutdown-timeout {SHUTDOWN_TIMEOUT}s)" + follower.diagnostics())
        exited = time.monotonic() - signalled
        print(f"[silent link] SIGTERM with the link silent: exited after {exited:.2f} s, status {follower.proc.returncode}")
        assert follower.proc.returncode == 0, f"exit status {follower.proc.returncode} after SIGTERM" + follower.diagnostics()
    finally:
        if poller is not None:
            poller.stop()
        if follower is not None:
            follower.stop()
        if proxy is not None:
            proxy.close()
        postgres.remove()
