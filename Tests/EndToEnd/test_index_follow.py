"""`ocspctl import --index index.txt --follow` (issue 35, part 3, first increment): the real
`openssl ca` revokes and issues while the follower runs, and a running ocspd on the same store
answers the new statuses, checked with `openssl ocsp`."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

from ocsp_e2e import Ocspd, ctl_ok, issue, make_ca, openssl, openssl_ok

# How long a change may take to be served before the test gives up (issue 35 asks for 1 s; the
# observed time is printed and asserted well under this on an idle machine).
WAIT = 10.0


class Follower:
    """A running `ocspctl ... --follow` (ARGS after `ocspctl`); its JSON log lines go to a file."""

    def __init__(self, bins, args: list, log_dir: Path):
        self.log_path = Path(log_dir) / "follow.stderr"
        self._log = open(self.log_path, "w+b")
        self.args = [str(bins.ocspctl)] + [str(arg) for arg in args]
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self._log)

    def lines(self) -> list[dict]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def wait_for(self, predicate, what: str) -> list[dict]:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"the follower exited ({self.proc.returncode}):\n{self.text()}"
            lines = self.lines()
            if predicate(lines):
                return lines
            time.sleep(0.05)
        raise AssertionError(f"the follower did not log {what} within {WAIT}s:\n{self.text()}")

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()
        return self.proc.returncode


def ocsp_status(d: Path, server: Ocspd, name: str) -> str:
    proc = openssl("ocsp", "-issuer", d / "ca.pem", "-cert", d / f"{name}.pem", "-url", server.url,
                   "-CAfile", d / "ca.pem")
    assert "Response verify OK" in proc.stderr + proc.stdout, proc.stderr + proc.stdout
    for line in proc.stdout.splitlines():
        if line.startswith(f"{d / name}.pem: "):
            return line.split(": ", 1)[1].strip()
    raise AssertionError(proc.stdout)


def served_within(d: Path, server: Ocspd, name: str, expected: str) -> float:
    """Seconds until ocspd answers `expected` for NAME.pem (bounded by WAIT)."""
    start = time.monotonic()
    status = None
    while time.monotonic() - start < WAIT:
        status = ocsp_status(d, server, name)
        if status == expected:
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError(f"{name}.pem still {status!r} after {WAIT}s, expected {expected}")


def applied(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line.get("message") == "applied"]


def test_follow_an_openssl_ca_database(bins, tmp_path, log_dir):
    d = tmp_path
    make_ca(d, "Follow Test CA", ["alpha", "beta"])
    store = d / "store"
    ctl_ok(bins, "init", "--store", store)
    ctl_ok(bins, "issuer", "add", "--store", store, "--cert", d / "ca.pem", "--key", d / "ca.key")

    follower = Follower(bins, ["import", "--store", store, "--issuer", d / "ca.pem", "--index", d / "index.txt",
                               "--follow"], log_dir)
    server = None
    try:
        follower.wait_for(lambda lines: any(line.get("added") == "2" for line in applied(lines)), "the first import")
        # The follower signs the responses of what it writes (as `ocspctl revoke` does), before
        # any ocspd runs.
        stats = json.loads(ctl_ok(bins, "stats", "--store", store, "--json").stdout)
        assert stats["certificates"] == 2 and stats["responses"] == 2, stats
        server = Ocspd(bins, store, log_dir)
        server.wait_ready()
        assert ocsp_status(d, server, "alpha") == "good"
        assert ocsp_status(d, server, "beta") == "good"

        # A revocation by the real tool (index.txt.new renamed over index.txt) is served.
        openssl_ok("ca", "-config", d / "ca.cnf", "-revoke", d / "alpha.pem", "-crl_reason", "keyCompromise")
        took = served_within(d, server, "alpha", "revoked")
        print(f"openssl ca -revoke to a served revoked: {took:.3f}s")
        # Issue 35 asks for 1 s (measured here: well under 0.1 s); the bound leaves room for a
        # loaded 2-core machine, where each `openssl ocsp` probe alone can take a second.
        assert took < 5.0, f"revoked served after {took:.3f}s"
        change = follower.wait_for(lambda lines: any(line.get("changed") == "1" for line in applied(lines)),
                                   "the revocation")
        logged = [line for line in applied(change) if line.get("changed") == "1"][0]
        assert logged["added"] == "0" and logged["unchanged"] == "1" and logged["bad"] == "0", logged
        assert int(logged["lag_ms"]) >= 0, logged
        print(f"the follower's logged lag: {logged['lag_ms']} ms")

        # A newly issued certificate is served good.
        issue(d, "gamma")
        took = served_within(d, server, "gamma", "good")
        print(f"openssl ca issuance to a served good: {took:.3f}s")
        assert took < 5.0, f"good served after {took:.3f}s"

        # A garbled line: one log line names it; the follower keeps running and applying.
        with open(d / "index.txt", "a") as index:
            index.write("V\t3612312359\tgarbled\n")
        follower.wait_for(lambda lines: any(line.get("message") == "bad index line skipped" for line in lines),
                          "the garbled line")
        bad = [line for line in follower.lines() if line.get("message") == "bad index line skipped"]
        assert len(bad) == 1 and bad[0]["line"] == "4" and bad[0]["text"] == "V\t3612312359\tgarbled", bad
        # (`openssl ca` itself refuses a database with a bad line: the next change is made the
        # way it makes one, a new file renamed over the index.)
        lines = (d / "index.txt").read_text().splitlines(keepends=True)
        beta = [i for i, line in enumerate(lines) if line.startswith("V\t") and "\t1001\t" in line]
        assert len(beta) == 1, lines
        fields = lines[beta[0]].split("\t")
        fields[0], fields[2] = "R", "260102030405Z,superseded"
        lines[beta[0]] = "\t".join(fields)
        (d / "index.txt.new").write_text("".join(lines))
        (d / "index.txt.new").rename(d / "index.txt")
        took = served_within(d, server, "beta", "revoked")
        print(f"revocation after a garbled line: {took:.3f}s")
        follower.wait_for(lambda lines: any(line.get("changed") == "1" and line.get("bad") == "1"
                                            for line in applied(lines)), "the revocation after the garbled line")
        bad = [line for line in follower.lines() if line.get("message") == "bad index line skipped"]
        assert len(bad) == 1, f"the garbled line is reported once: {bad}"
        assert ocsp_status(d, server, "gamma") == "good"
    finally:
        if server is not None:
            server.stop()
        code = follower.stop()
    assert code == 0, f"the follower exited {code} on SIGTERM:\n{follower.text()}"
    assert any(line.get("message") == "stopped" for line in follower.lines()), follower.text()
    assert "warning: " not in follower.text(), "every change was signed here:\n" + follower.text()
