"""`ocspctl cert add --dir DIR --follow` (issue 35, part 3): certificates a CA writes into a
directory while the follower runs are served good by a running ocspd on the same store, checked
with `openssl ocsp`."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from ocsp_e2e import Ocspd, ctl_ok, issue, make_ca
from test_index_follow import Follower, ocsp_status, served_within


def messages(follower: Follower, message: str) -> list[dict]:
    return [line for line in follower.lines() if line.get("message") == message]


def added(follower: Follower, file: str) -> list[dict]:
    return [line for line in messages(follower, "added") if line.get("file") == file]


def test_follow_a_directory_of_issued_certificates(bins, tmp_path, log_dir):
    d = tmp_path
    make_ca(d, "Dir Follow Test CA", ["alpha"])
    store = d / "store"
    ctl_ok(bins, "init", "--store", store)
    ctl_ok(bins, "issuer", "add", "--store", store, "--cert", d / "ca.pem", "--key", d / "ca.key")
    issued = d / "issued"
    issued.mkdir()
    shutil.copy(d / "alpha.pem", issued / "alpha.pem")  # there before the follower starts
    args = ["cert", "add", "--store", store, "--dir", issued, "--follow"]

    follower = Follower(bins, args, log_dir)
    server = None
    try:
        follower.wait_for(lambda lines: added(follower, "alpha.pem"), "alpha.pem added at start")
        server = Ocspd(bins, store, log_dir)
        server.wait_ready()
        assert ocsp_status(d, server, "alpha") == "good"

        # A new certificate, written into DIR in two steps (the first half does not parse).
        issue(d, "beta")
        pem = (d / "beta.pem").read_bytes()
        with open(issued / "beta.pem", "wb") as out:
            out.write(pem[: len(pem) // 2])
            out.flush()
            time.sleep(0.2)
            out.write(pem[len(pem) // 2:])
        took = served_within(d, server, "beta", "good")
        print(f"certificate written to a served good: {took:.3f}s")
        # Issue 35 asks for 1 s; the bound leaves room for a loaded 2-core machine, where each
        # `openssl ocsp` probe alone can take a second.
        assert took < 5.0, f"good served after {took:.3f}s"
        follower.wait_for(lambda lines: added(follower, "beta.pem"), "beta.pem added")
        logged = added(follower, "beta.pem")
        assert len(logged) == 1, logged
        assert logged[0]["serial"] == "1001" and logged[0]["issuer"] and int(logged[0]["lag_ms"]) >= 0, logged
        print(f"the follower's logged lag: {logged[0]['lag_ms']} ms")
        assert not any(line.get("file") == "beta.pem" for line in messages(follower, "file skipped")), follower.text()

        # A garbage file: one log line; the follower keeps running and adding.
        (issued / "garbage.pem").write_text("not a certificate\n")
        follower.wait_for(lambda lines: messages(follower, "file skipped"), "the garbage file")
        # A certificate of an issuer the store does not hold: one log line, skipped.
        other = d / "other"
        other.mkdir()
        make_ca(other, "Another CA", ["stranger"])
        shutil.copy(other / "stranger.pem", issued / "stranger.pem")
        follower.wait_for(lambda lines: len(messages(follower, "file skipped")) >= 2, "the stranger")
        # A removed file changes nothing.
        (issued / "alpha.pem").unlink()
        issue(d, "gamma")
        shutil.copy(d / "gamma.pem", issued / "gamma.pem")
        took = served_within(d, server, "gamma", "good")
        print(f"after a garbage file: {took:.3f}s")
        assert took < 5.0, f"good served after {took:.3f}s"
        time.sleep(1.5)  # past a poll or two: nothing is reported again
        skipped = messages(follower, "file skipped")
        assert sorted(line["file"] for line in skipped) == ["garbage.pem", "stranger.pem"], skipped
        assert "not a PEM or DER certificate" in [s for s in skipped if s["file"] == "garbage.pem"][0]["reason"]
        assert "no issuer in the store issued it" in [s for s in skipped if s["file"] == "stranger.pem"][0]["reason"]
        assert ocsp_status(d, server, "alpha") == "good"
        assert len(messages(follower, "added")) == 3, follower.text()
    finally:
        if server is not None:
            server.stop()
        code = follower.stop()
    assert code == 0, f"the follower exited {code} on SIGTERM:\n{follower.text()}"
    assert messages(follower, "stopped"), follower.text()
    assert "warning: " not in follower.text(), "every certificate was signed here:\n" + follower.text()

    # Run again: what is there is in the store already; nothing is added.
    again = Follower(bins, args, log_dir)
    try:
        again.wait_for(lambda lines: messages(again, "already in the store"), "the rerun's first look")
        present = messages(again, "already in the store")[0]
        assert present["count"] == "2", present
        assert not messages(again, "added"), again.text()
    finally:
        code = again.stop()
    assert code == 0, again.text()
