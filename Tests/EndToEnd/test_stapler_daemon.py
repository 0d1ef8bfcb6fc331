"""`ocsp-stapler` as a daemon (issue 21): refresh before nextUpdate from an ocspd with a short
validity, the responder going down and coming back, HAProxy fed over its runtime API from a
watched directory, nginx reloaded by the hook only when a staple changed, a configuration file,
and its /metrics checked with promtool and its JSON logs parsed."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

import pytest
from cryptography.x509 import ocsp

from ocsp_e2e import STAPLER_BIN, Ocspd, ctl_ok, describe, run
from tls_servers import HAProxy, Nginx, free_port, haproxy_crt, poll_s_client, s_client_status

PROMTOOL = shutil.which("promtool")


class StaplerDaemon:
    """`ocsp-stapler` without --once, JSON logs in a file. Always call stop()."""

    def __init__(self, log_dir: Path, *args, metrics: bool = True):
        self.metrics_port = free_port() if metrics else None
        self.args = [str(STAPLER_BIN), *map(str, args), "--log-format", "json", "--log-level", "debug"]
        if metrics:
            self.args += ["--metrics-listen", f"127.0.0.1:{self.metrics_port}"]
        self.log_path = Path(log_dir) / f"stapler-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)

    def lines(self) -> list[dict]:
        """Every log line, parsed: each must be one JSON object."""
        records = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    pytest.fail(f"a log line is not JSON: {line!r}")
        return records

    def diagnostics(self) -> str:
        return f"\n$ {' '.join(self.args)}\nexit: {self.proc.poll()}\n--- log ---\n{self.log_path.read_text(errors='replace')}"

    def wait_for(self, predicate: Callable[[dict], bool], what: str, timeout: float = 20, count: int = 1) -> list[dict]:
        deadline = time.monotonic() + timeout
        while True:
            found = [r for r in self.lines() if predicate(r)]
            if len(found) >= count:
                return found
            assert self.proc.poll() is None, f"ocsp-stapler exited while waiting for {what}" + self.diagnostics()
            if time.monotonic() >= deadline:
                pytest.fail(f"no {what} (x{count}) within {timeout}s" + self.diagnostics())
            time.sleep(0.1)

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10) as response:
            assert response.status == 200
            return response.read().decode()

    def hangup(self) -> None:
        self.proc.send_signal(signal.SIGHUP)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                pytest.fail("ocsp-stapler did not stop within 15 s of SIGTERM" + self.diagnostics())
        self._log.close()
        return self.proc.returncode


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample of the exposition, or None when absent."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        if series == (f"{name}{{{wanted}}}" if wanted else name):
            return float(value)
    return None


def check_with_promtool(text: str) -> None:
    if PROMTOOL is None:
        pytest.fail("promtool is not installed (Debian package prometheus; `make test` installs it)")
    proc = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    # promtool exits 0, or 3 with lint remarks only (e.g. counters without _total); errors exit 1.
    assert proc.returncode in (0, 3) and "error" not in proc.stderr.lower(), proc.stdout + proc.stderr + text


def staple_at(path: Path) -> ocsp.OCSPResponse | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    response = ocsp.load_der_ocsp_response(data)
    assert response.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    return response


def written(record: dict) -> bool:
    return record.get("message") == "staple written"


def test_the_daemon_refreshes_before_next_update_with_metrics_and_json_logs(bins, demo, log_dir, tmp_path):
    leaf, root, out = demo / "leaves" / "leaf-ec-01.pem", demo / "ec-root.pem", tmp_path / "site.ocsp"
    server = Ocspd(bins, demo / "store", log_dir, validity=8)
    server.wait_ready()
    daemon = StaplerDaemon(log_dir, "--cert", leaf, "--issuer", root, "--out", out, "--url", server.url, "--retry-min", "1")
    try:
        daemon.wait_for(written, "a first staple")
        # For 14 s (almost two validity periods), the file never holds an expired staple and
        # keeps being renewed; the policy refreshes at half the 8 s validity.
        this_updates = set()
        deadline = time.monotonic() + 14
        while time.monotonic() < deadline:
            response = staple_at(out)
            assert response is not None, "the staple file went missing" + daemon.diagnostics()
            now = dt.datetime.now(dt.timezone.utc)
            assert response.next_update_utc > now, f"an expired staple in place at {now}" + daemon.diagnostics()
            assert response.certificate_status == ocsp.OCSPCertStatus.GOOD
            this_updates.add(response.this_update_utc)
            time.sleep(0.2)
        assert len(this_updates) >= 3, f"only {len(this_updates)} staples in 14 s" + daemon.diagnostics()

        text = daemon.metrics()
        check_with_promtool(text)
        with urllib.request.urlopen(f"http://127.0.0.1:{daemon.metrics_port}/healthz", timeout=10) as response:
            assert response.status == 200
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"http://127.0.0.1:{daemon.metrics_port}/nothing", timeout=10)
        assert missing.value.code == 404
        name = str(leaf)
        assert metric(text, "ocsp_stapler_staple_valid", certificate=name) == 1, text
        assert metric(text, "ocsp_stapler_status", certificate=name, status="good") == 1, text
        assert metric(text, "ocsp_stapler_status", certificate=name, status="failed") == 0, text
        assert 0 < metric(text, "ocsp_stapler_staple_expiry_seconds", certificate=name) <= 8, text
        assert 0 <= metric(text, "ocsp_stapler_staple_age_seconds", certificate=name) < 8, text
        assert metric(text, "ocsp_stapler_fetch_failures_total", certificate=name) == 0, text
        assert metric(text, "ocsp_stapler_certificates") == 1, text
    finally:
        assert daemon.stop() == 0, daemon.diagnostics()
        server.stop()
    records = daemon.lines()
    assert all({"timestamp", "level", "label", "message"} <= r.keys() for r in records), records
    assert any(r["message"] == "stapler stopped" for r in records), daemon.diagnostics()
    assert all(r.get("certificate") == str(leaf) for r in records if written(r))
    # When ocspd has not re-signed yet, the same response comes back: asked again after
    # --retry-min (1 s here), not in a loop.
    fetches = [r for r in records if r["message"] in ("staple written", "staple unchanged")]
    assert len(fetches) <= 30, f"{len(fetches)} fetches in about 15 s" + daemon.diagnostics()


def test_responder_down_keeps_the_last_good_staple_then_recovers(bins, demo, log_dir, tmp_path):
    leaf, root, out = demo / "leaves" / "leaf-ec-01.pem", demo / "ec-root.pem", tmp_path / "site.ocsp"
    port = free_port()
    server = Ocspd(bins, demo / "store", log_dir, validity=10, port=port)
    server.wait_ready()
    daemon = StaplerDaemon(log_dir, "--cert", leaf, "--issuer", root, "--out", out, "--url", server.url,
                           "--retry-min", "0.5", "--retry-max", "1", "--timeout", "2")
    try:
        daemon.wait_for(written, "a first staple")
        server.stop()
        kept = daemon.wait_for(lambda r: r.get("message") == "no new staple; the last valid one is kept",
                               "a failure with the last staple kept")
        assert "127.0.0.1" in kept[0]["error"] and kept[0]["level"] == "error", kept
        last_good = staple_at(out)
        assert last_good is not None and last_good.next_update_utc > dt.datetime.now(dt.timezone.utc)

        # Past its nextUpdate the staple is removed, loudly, never served expired.
        daemon.wait_for(lambda r: r.get("removed_stale") == "true" and r["level"] == "critical",
                        "the expired staple removed", timeout=20)
        assert not out.exists(), "an expired staple was left where a server reads it"
        text = daemon.metrics()
        assert metric(text, "ocsp_stapler_staple_valid", certificate=str(leaf)) == 0, text
        assert metric(text, "ocsp_stapler_fetch_failures_total", certificate=str(leaf)) >= 2, text
        assert metric(text, "ocsp_stapler_status", certificate=str(leaf), status="failed") == 1, text
        assert metric(text, "ocsp_stapler_staple_expiry_seconds", certificate=str(leaf)) is None, text

        # The responder back on the same address: the backoff (at most 1 s here) finds it.
        server = Ocspd(bins, demo / "store", log_dir, validity=10, port=port)
        server.wait_ready()
        before = len([r for r in daemon.lines() if written(r)])
        daemon.wait_for(written, "a staple after the responder came back", count=before + 1)
        assert staple_at(out).certificate_status == ocsp.OCSPCertStatus.GOOD
    finally:
        assert daemon.stop() == 0, daemon.diagnostics()
        server.stop()


def test_haproxy_gets_new_staples_over_its_runtime_api_from_a_watched_directory(bins, demo, log_dir, tmp_path):
    root = demo / "ec-root.pem"
    certs = tmp_path / "certs"
    site = haproxy_crt(certs / "site.pem", demo / "leaves" / "leaf-ec-01.pem", demo / "leaves" / "leaf-ec-01.key", root)
    server = Ocspd(bins, demo / "store", log_dir, validity=3600)  # HAProxy staples only > 300 s before nextUpdate
    server.wait_ready()
    # The first staple before HAProxy starts: HAProxy updates at run time only certificates that
    # had a .ocsp file at start.
    proc = run([STAPLER_BIN, "--once", "--watch", certs, "--url", server.url])
    assert proc.returncode == 0 and (certs / "site.pem.ocsp").exists(), describe(proc)
    haproxy = HAProxy(tmp_path / "haproxy", site).start()
    daemon = None
    try:
        text = poll_s_client(haproxy.port, root, "Cert Status: good", diagnostics=haproxy.diagnostics)
        assert "OCSP Response Status: successful" in text
        daemon = StaplerDaemon(log_dir, "--watch", certs, "--haproxy-socket", haproxy.socket_path, "--url", server.url,
                               "--rescan-interval", "0.5")
        daemon.wait_for(lambda r: r.get("haproxy_updated") == "true", "the staple handed to HAProxy")

        # A revocation, then SIGHUP: the stapler fetches now and HAProxy staples it, no reload.
        ctl_ok(bins, "revoke", "--store", demo / "store", "--cert", demo / "leaves" / "leaf-ec-01.pem",
               "--reason", "keyCompromise")
        daemon.hangup()
        poll_s_client(haproxy.port, root, "Cert Status: revoked", diagnostics=haproxy.diagnostics)
        assert haproxy.proc.poll() is None
        metrics = daemon.metrics()
        assert metric(metrics, "ocsp_stapler_haproxy_updates_total", certificate=str(site)) >= 2, metrics
        assert metric(metrics, "ocsp_stapler_status", certificate=str(site), status="revoked") == 1, metrics

        # A certificate added to the directory is picked up by the next scan.
        second = haproxy_crt(certs / "second.pem", demo / "leaves" / "leaf-ec-03.pem",
                             demo / "leaves" / "leaf-ec-03.key", root)
        deadline = time.monotonic() + 15
        while not Path(str(second) + ".ocsp").exists():
            assert time.monotonic() < deadline, "the added certificate got no staple" + daemon.diagnostics()
            time.sleep(0.2)
        assert staple_at(Path(str(second) + ".ocsp")).certificate_status == ocsp.OCSPCertStatus.GOOD
    finally:
        if daemon is not None:
            assert daemon.stop() == 0, daemon.diagnostics()
        haproxy.stop()
        server.stop()


def test_the_reload_hook_runs_only_when_a_staple_changed(bins, demo, log_dir, tmp_path):
    leaf, key, root = demo / "leaves" / "leaf-ec-01.pem", demo / "leaves" / "leaf-ec-01.key", demo / "ec-root.pem"
    out = tmp_path / "site.ocsp"
    server = Ocspd(bins, demo / "store", log_dir, validity=3600)
    server.wait_ready()
    proc = run([STAPLER_BIN, "--once", "--cert", leaf, "--issuer", root, "--out", out, "--url", server.url])
    assert proc.returncode == 0, describe(proc)
    port = free_port()
    nginx = Nginx(tmp_path / "nginx", {port: f"ssl_certificate {leaf}; ssl_certificate_key {key}; "
                                             f"ssl_stapling on; ssl_stapling_file {out};"}).start()
    daemon = None
    try:
        assert "Cert Status: good" in s_client_status(port, root)
        hook = f"kill -HUP {nginx.proc.pid}"
        daemon = StaplerDaemon(log_dir, "--cert", leaf, "--issuer", root, "--out", out, "--url", server.url,
                               "--reload-command", hook, "--reload-interval", "1")
        # ocspd serves the same pre-signed bytes: nothing changed, so no reload, even after SIGHUP.
        daemon.wait_for(lambda r: r.get("message") == "staple unchanged", "an unchanged staple")
        daemon.hangup()
        daemon.wait_for(lambda r: r.get("message") == "staple unchanged", "an unchanged staple again", count=2)
        assert metric(daemon.metrics(), "ocsp_stapler_reloads_total", result="ok") == 0

        ctl_ok(bins, "revoke", "--store", demo / "store", "--cert", leaf, "--reason", "keyCompromise")
        daemon.hangup()
        daemon.wait_for(lambda r: r.get("message", "").startswith("reload command run"), "the reload command")
        poll_s_client(port, root, "Cert Status: revoked", diagnostics=nginx.diagnostics)
        assert metric(daemon.metrics(), "ocsp_stapler_reloads_total", result="ok") == 1
    finally:
        if daemon is not None:
            assert daemon.stop() == 0, daemon.diagnostics()
        nginx.stop()
        server.stop()


def test_a_configuration_file_names_certificates_and_directories(bins, demo, log_dir, tmp_path):
    root = demo / "ec-root.pem"
    certs = tmp_path / "certs"
    certs.mkdir()
    shutil.copy(demo / "leaves" / "leaf-ec-03.pem", certs / "third.pem")
    (certs / "third.pem.issuer").write_bytes(root.read_bytes())  # HAProxy's convention for the issuer
    shutil.copy(root, certs / "ca.pem")  # a CA in the directory is not a certificate to staple
    server = Ocspd(bins, demo / "store", log_dir, validity=3600)
    server.wait_ready()
    try:
        config = tmp_path / "stapler.yaml"
        config.write_text(f"""
responder_url: {server.url}
timeout: 3s
concurrency: 4
refresh:
  fraction: 0.5
  retry_min: 30s
certificates:
  - name: first
    cert: {demo / "leaves" / "leaf-ec-01.pem"}
    issuer: {root}
    out: {tmp_path / "first.ocsp"}
  - name: revoked
    cert: {demo / "leaves" / "leaf-ec-02.pem"}
    issuer: {root}
    out: {tmp_path / "revoked.ocsp"}
watch:
  - dir: {certs}
""")
        proc = run([STAPLER_BIN, "--once", "--config", config])
        assert proc.returncode == 3, describe(proc)  # one is revoked: the most severe status
        assert staple_at(tmp_path / "first.ocsp").certificate_status == ocsp.OCSPCertStatus.GOOD
        assert staple_at(tmp_path / "revoked.ocsp").certificate_status == ocsp.OCSPCertStatus.REVOKED
        assert staple_at(certs / "third.pem.ocsp").certificate_status == ocsp.OCSPCertStatus.GOOD
        assert not (certs / "ca.pem.ocsp").exists()
        assert "refreshed 3 certificate(s)" in proc.stderr, describe(proc)

        # A misspelt key is a usage error naming it, on one line; so is a certificate that is not there.
        config.write_text(f"responder_url: {server.url}\nhaproxy_sockett: /run/x.sock\nwatch:\n  - dir: {certs}\n")
        proc = run([STAPLER_BIN, "--once", "--config", config])
        assert proc.returncode == 2 and "haproxy_sockett" in proc.stderr, describe(proc)
        assert len(proc.stderr.strip().splitlines()) == 1, describe(proc)
        config.write_text(f"certificates:\n  - cert: {tmp_path / 'absent.pem'}\n    out: {tmp_path / 'x.ocsp'}\n")
        proc = run([STAPLER_BIN, "--config", config])
        assert proc.returncode == 2 and "absent.pem" in proc.stderr, describe(proc)
    finally:
        server.stop()
