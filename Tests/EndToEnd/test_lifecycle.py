"""ocspd's configuration (file, environment, flags), SIGTERM draining and SIGHUP reloading, against
the real binary: configuration errors are one line naming the key; no request sent before SIGTERM
is cut; a responder certificate rotated under load is used after SIGHUP with no failed request."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from cryptography.x509 import ocsp

from ocsp_e2e import (
    new_responder,
    REPO_ROOT, Ocspd, b64, build_request, check_config_values, clean_environment, ctl_ok, describe, get_ocsp, load_cert, openssl_ok, parse_ok_response,
    post_ocsp, verify_signature,
)

EXAMPLE = REPO_ROOT / "Config" / "ocspd.yaml"




def ocspd(bins, *args, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(bins.ocspd), *map(str, args)], capture_output=True, text=True, timeout=30,
                          env=env if env is not None else clean_environment(), stdin=subprocess.DEVNULL)


def check_config(bins, *args, env: dict | None = None) -> dict[str, tuple[str, str]]:
    return check_config_values(ocspd(bins, "--check-config", *args, env=env))


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------

def test_the_example_file_documents_every_key(bins):
    values = check_config(bins, "--config", EXAMPLE)
    assert all(source == f"file {EXAMPLE}" for _, source in values.values()), values
    help_text = ocspd(bins, "--help").stdout
    assert "--config" in help_text and "--check-config" in help_text


def test_flags_beat_the_environment_which_beats_the_file(bins, tmp_path):
    config = tmp_path / "ocspd.yaml"
    config.write_text("store: /from/file\nthreads: 3\ncrl:\n  interval: 3h\n  shards: 4\n  public-url: http://crl.test/\n"
                      "log:\n  level: debug\n")
    env = clean_environment(OCSPD_CRL_INTERVAL="2h", OCSPD_THREADS="5", OCSPD_CONFIG=str(config))
    values = check_config(bins, "--threads", "7", env=env)
    assert values["store"] == ("/from/file", f"file {config}")
    assert values["crl.shards"] == ("4", f"file {config}")
    assert values["log.level"] == ("debug", f"file {config}")
    assert values["crl.interval"] == ("2h", "environment OCSPD_CRL_INTERVAL")
    assert values["threads"] == ("7", "flag --threads")
    assert values["listen"] == ("127.0.0.1:8080", "default")


@pytest.mark.parametrize("case, args, env, names", [
    ("unknown key in the file", ["--config", "{file}"], {}, "crl.intervall"),
    ("bad duration in the environment", ["--store", "/tmp/s"], {"OCSPD_REQUEST_TIMEOUT": "ten seconds"},
     "request-timeout"),
    ("bad duration as a flag", ["--store", "/tmp/s", "--crl-interval", "1 hour"], {}, "crl.interval"),
    ("missing store", [], {}, "store"),
    ("not a power of two", ["--store", "/tmp/s", "--front-cache-entries", "1000"], {}, "front-cache-entries"),
])
def test_bad_configuration_is_one_line_naming_the_key(bins, tmp_path, case, args, env, names):
    bad = tmp_path / "bad.yaml"
    bad.write_text("store: /tmp/s\ncrl:\n  intervall: 3h\n")
    proc = ocspd(bins, *[a.replace("{file}", str(bad)) for a in args], env=clean_environment(**env))
    assert proc.returncode != 0, describe(proc)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and names in lines[0], (case, describe(proc))
    assert proc.stdout == "", describe(proc)


def test_an_unknown_ocspd_variable_is_a_warning_not_a_refusal(bins, tmp_path):
    # The environment is shared with other tools (the sanitizer script sets OCSPD_BIN).
    proc = ocspd(bins, "--check-config", "--store", tmp_path, env=clean_environment(OCSPD_THREAD="2"))
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout.startswith("# warning: environment variable OCSPD_THREAD is not a configuration key"), proc.stdout


def test_a_missing_store_directory_is_one_line(bins, tmp_path):
    proc = ocspd(bins, "--store", tmp_path / "nowhere")
    assert proc.returncode != 0 and len(proc.stderr.strip().splitlines()) == 1, describe(proc)
    assert "nowhere" in proc.stderr, describe(proc)


# --------------------------------------------------------------------------------------------
# SIGTERM: drain
# --------------------------------------------------------------------------------------------

def test_sigterm_under_load_answers_every_request_sent_before_it(bins, demo, log_dir):
    server = Ocspd(bins, demo / "store", log_dir, extra=["--threads", "2", "--shutdown-timeout", "5s"])
    port = server.wait_ready()
    paths = ["/" + b64(build_request(load_cert(demo / "leaves" / f"leaf-ec-0{i}.pem"),
                                     load_cert(demo / "ec-root.pem"))) for i in range(1, 9)]
    records: list[tuple[float, bool, str]] = []   # (sent at, answered, error)
    lock = threading.Lock()
    stop = threading.Event()

    def client(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        n = 0
        while not stop.is_set():
            sent = time.monotonic()
            try:
                conn.request("GET", paths[(index + n) % len(paths)])
                res = conn.getresponse()
                body = res.read()
                ok = res.status == 200 and ocsp.load_der_ocsp_response(body).response_status \
                    == ocsp.OCSPResponseStatus.SUCCESSFUL
                error = "" if ok else f"HTTP {res.status}"
                if res.getheader("Connection", "").lower() == "close":
                    conn.close()
            except Exception as e:   # noqa: BLE001: any failure is a record
                ok, error = False, repr(e)
                conn.close()
                time.sleep(0.01)
            with lock:
                records.append((sent, ok, error))
            n += 1

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(16)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    signalled = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    try:
        code = server.proc.wait(timeout=15)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=15)
        server.stop()
    took = time.monotonic() - signalled
    before = [r for r in records if r[0] < signalled]
    cut = [r for r in before if not r[1]]
    assert len(before) > 100, f"only {len(before)} requests before the signal"
    assert not cut, f"{len(cut)} of {len(before)} requests sent before SIGTERM failed: {cut[:5]}"
    assert code == 0, server.diagnostics()
    assert took < 5, f"drain took {took:.1f} s"
    assert '"message":"stopped"' in server.stderr_text()


def test_sigterm_waits_for_a_slow_request_then_exits(bins, demo, log_dir):
    """A POST whose body is still arriving when SIGTERM comes is answered once it is in."""
    server = Ocspd(bins, demo / "store", log_dir, extra=["--shutdown-timeout", "5s"])
    port = server.wait_ready()
    body = build_request(load_cert(demo / "leaves" / "leaf-ec-01.pem"), load_cert(demo / "ec-root.pem"))
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest("POST", "/")
    conn.putheader("Content-Type", "application/ocsp-request")
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders()
    conn.send(body[:10])
    time.sleep(0.3)
    server.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert server.proc.poll() is None, "ocspd exited with a request in flight"
    conn.send(body[10:])
    res = conn.getresponse()
    assert res.status == 200 and res.getheader("Connection") == "close"
    assert ocsp.load_der_ocsp_response(res.read()).certificate_status == ocsp.OCSPCertStatus.GOOD
    assert server.proc.wait(timeout=10) == 0, server.diagnostics()
    server.stop()


# --------------------------------------------------------------------------------------------
# SIGHUP: reload
# --------------------------------------------------------------------------------------------

def test_sighup_under_load_signs_with_a_rotated_responder_certificate(bins, demo, log_dir, tmp_path):
    load_bin = REPO_ROOT / ".build" / "debug" / "ocsp-load"
    # Every answer is signed live (nonces): the limiter must not be what answers tryLater.
    server = Ocspd(bins, demo / "store", log_dir, extra=["--threads", "2", "--live-sign-rate", "1000000"])
    port = server.wait_ready()
    report = tmp_path / "load.json"
    load = subprocess.Popen(
        [str(load_bin), "--url", f"http://127.0.0.1:{port}/", "--store", str(demo / "store"),
         "--issuer", str(demo / "ec-root.pem"), "--nonce", "--method", "mix", "--connections", "8",
         "--threads", "1", "--duration", "6s", "--verify-sample", "1", "--json", str(report)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(2)
        cert, key = new_responder(demo, tmp_path)
        ctl_ok(bins, "issuer", "add", "--replace", "--store", demo / "store", "--cert", demo / "ec-root.pem",
               "--responder-cert", cert, "--responder-key", key)
        server.proc.send_signal(signal.SIGHUP)
        out, err = load.communicate(timeout=60)
        assert load.returncode == 0, f"ocsp-load saw failures:\n{out}\n{err}"
        stats = json.loads(report.read_text())
        assert stats["errorCount"] == 0 and stats["requests"] > 100, stats
        assert stats["verification"]["failed"] == 0 and stats["verification"]["passed"] > 100, stats["verification"]
        # From the reload on, what is signed is signed by the new certificate.
        request = build_request(load_cert(demo / "leaves" / "leaf-ec-01.pem"), load_cert(demo / "ec-root.pem"),
                                nonce=b"after rotation!!")
        response = parse_ok_response(post_ocsp(port, request))
        rotated = load_cert(cert)
        assert response.certificates and response.certificates[0] == rotated
        verify_signature(response, rotated)
    finally:
        if load.poll() is None:
            load.kill()
        server.stop()
    log = [json.loads(line) for line in server.stderr_text().splitlines() if line.strip()]
    assert any(o["message"] == "reloaded" for o in log), log


def test_sighup_applies_the_file_and_reports_what_needs_a_restart(bins, demo, log_dir, tmp_path):
    config = tmp_path / "ocspd.yaml"
    config.write_text(f"store: {demo / 'store'}\nlisten: 127.0.0.1:0\nlog:\n  level: info\n")
    server = Ocspd(bins, demo / "store", log_dir, extra=["--config", str(config)])
    port = server.wait_ready()
    try:
        post_ocsp(port, b"\x30\x03\x02\x01\x00")   # refused: a debug line, not logged at info
        config.write_text(f"store: {demo / 'store'}\nlisten: 127.0.0.1:0\nthreads: 1\nlog:\n  level: debug\n")
        server.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while '"message":"reloaded"' not in server.stderr_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        post_ocsp(port, b"\x30\x03\x02\x01\x00")   # now logged
        parse_ok_response(get_ocsp(port, b64(build_request(load_cert(demo / "leaves" / "leaf-ec-01.pem"),
                                                           load_cert(demo / "ec-root.pem")))))
        config.write_text("store: [not, a, path\n")   # broken: nothing changes
        server.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while '"reload refused' not in server.stderr_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        parse_ok_response(get_ocsp(port, b64(build_request(load_cert(demo / "leaves" / "leaf-ec-01.pem"),
                                                           load_cert(demo / "ec-root.pem")))))
    finally:
        server.stop()
    log = [json.loads(line) for line in server.stderr_text().splitlines() if line.strip()]
    reloaded = [o for o in log if o["message"] == "reloaded"]
    assert reloaded and reloaded[0]["applied"] == "log.level" and reloaded[0]["need_restart"] == "threads", log
    refused = [o for o in log if o.get("ocsp_status") == "malformedRequest"]
    assert len(refused) == 1, refused   # only the one after the reload to debug
    assert any(o["message"].startswith("reload refused") for o in log), log
    assert server.proc.returncode == 0
