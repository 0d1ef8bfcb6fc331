"""Operations: /metrics read by a real Prometheus text parser and scraped by a real Prometheus
server, the alert rules checked and unit-tested by promtool, JSON logs, /readyz and SIGHUP,
and the separate metrics listener."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp

from ocsp_e2e import (
    REPO_ROOT, Ocspd, build_request, ctl_ok, get_ocsp, http_request, load_cert, b64, parse_ok_response, post_ocsp,
    run, start_with as start,
)

CONFIG = REPO_ROOT / "Config" / "prometheus"


def leaf_request(demo: Path, leaf: str, nonce: bytes | None = None) -> bytes:
    return build_request(load_cert(demo / "leaves" / f"{leaf}.pem"), load_cert(demo / "ec-root.pem"), nonce=nonce)


def unknown_request(demo: Path, serial: int) -> bytes:
    """A request for a serial of the demo EC root that the store has never heard of."""
    known = ocsp.OCSPRequestBuilder().add_certificate(
        load_cert(demo / "leaves" / "leaf-ec-01.pem"), load_cert(demo / "ec-root.pem"), hashes.SHA1()).build()
    return ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        known.issuer_name_hash, known.issuer_key_hash, serial, hashes.SHA1()).build().public_bytes(Encoding.DER)


def scrape(port: int) -> dict:
    """Samples of /metrics, parsed by prometheus_client: {(name, frozenset(labels)): value}."""
    from prometheus_client.parser import text_string_to_metric_families
    res = http_request(port, "GET", "/metrics")
    assert res.status == 200, res
    assert res.headers.get("content-type", "").startswith("text/plain; version=0.0.4"), res.headers
    samples = {}
    for family in text_string_to_metric_families(res.body.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def requests_total(samples: dict, status: str, cache_hit: str) -> float:
    return samples[("mtls_ocsp_requests_total", frozenset({("status", status), ("cache_hit", cache_hit)}))]


def test_counters_add_up_after_a_known_mix(bins, demo, log_dir):
    server = start(bins, demo / "store", log_dir, "--threads", "2")
    try:
        before = scrape(server.port)
        assert all(requests_total(before, s, h) == 0
                   for s in ["good", "revoked", "unknown", "unauthorized", "malformedRequest", "tryLater",
                             "internalError"] for h in ["true", "false"])
        for leaf in ["leaf-ec-01", "leaf-ec-03", "leaf-ec-04"]:          # 3 good, from the cache
            assert parse_ok_response(get_ocsp(server.port, b64(leaf_request(demo, leaf)))).certificate_status \
                == ocsp.OCSPCertStatus.GOOD
        for _ in range(2):                                                # 2 revoked, from the cache
            assert parse_ok_response(post_ocsp(server.port, leaf_request(demo, "leaf-ec-02"))).certificate_status \
                == ocsp.OCSPCertStatus.REVOKED
        unknown = parse_ok_response(post_ocsp(server.port, unknown_request(demo, 0x7E57)))  # 1 unknown, signed
        assert unknown.certificate_status == ocsp.OCSPCertStatus.UNKNOWN
        bad = post_ocsp(server.port, b"\x30\x03\x02\x01\x00")              # 1 malformed
        assert ocsp.load_der_ocsp_response(bad.body).response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST
        for nonce in [b"n" * 16, b"m" * 16]:                              # 2 good, signed for their nonce
            parse_ok_response(post_ocsp(server.port, leaf_request(demo, "leaf-ec-05", nonce=nonce)))

        after = scrape(server.port)
        expected = {("good", "true"): 3, ("good", "false"): 2, ("revoked", "true"): 2, ("unknown", "false"): 1,
                    ("malformedRequest", "false"): 1}
        for status in ["good", "revoked", "unknown", "unauthorized", "malformedRequest", "tryLater", "internalError"]:
            for hit in ["true", "false"]:
                assert requests_total(after, status, hit) == expected.get((status, hit), 0), (status, hit)
        assert after[("ocsp_signatures_total", frozenset({("reason", "nonce")}))] == 2
        assert after[("ocsp_signatures_total", frozenset({("reason", "miss")}))] == 1
        assert after[("ocsp_request_duration_seconds_count", frozenset())] == 9
        assert 0 < after[("ocsp_request_duration_seconds_sum", frozenset())] < 9
        assert after[("ocsp_request_duration_seconds_bucket", frozenset({("le", "+Inf")}))] == 9
        assert after[("ocsp_response_age_seconds_count", frozenset())] == 8   # the malformed answer has no age
        assert after[("ocsp_store_readable", frozenset())] == 1
        assert after[("ocsp_ready", frozenset())] == 1
        assert after[("ocsp_store_certificates", frozenset())] == 12
        assert after[("ocsp_open_connections", frozenset())] >= 1
        assert after[("ocsp_cached_response_min_remaining_seconds", frozenset())] > 3600
        expiries = [v for (name, _), v in after.items() if name == "ocsp_signer_expiry_seconds"]
        assert len(expiries) == 2 and all(v > 86400 for v in expiries)
        crl_ages = [v for (name, _), v in after.items() if name == "ocsp_crl_age_seconds"]
        assert len(crl_ages) == 2 and all(0 <= v < 600 for v in crl_ages)
    finally:
        server.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prometheus_query(port: int, query: str) -> list:
    res = http_request(port, "GET", "/api/v1/query?query=" + urllib.parse.quote(query))
    if res.status != 200:
        return []
    return json.loads(res.body)["data"]["result"]


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus is installed by make test")
def test_a_real_prometheus_server_scrapes_ocspd(bins, demo, log_dir, tmp_path):
    server = start(bins, demo / "store", log_dir)
    prom_port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: ['{CONFIG / 'ocsp-alerts.yml'}']\n"
        "scrape_configs:\n"
        "  - job_name: ocsp-responder\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{server.port}']}}]\n")
    prom_log = open(log_dir / "prometheus.log", "wb")
    prom = subprocess.Popen(
        ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{prom_port}"],
        stdout=prom_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        for leaf in ["leaf-ec-01", "leaf-ec-02"]:
            parse_ok_response(get_ocsp(server.port, b64(leaf_request(demo, leaf))))
        up, requests = [], []
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and not (up and requests):
            time.sleep(1)
            assert prom.poll() is None, (log_dir / "prometheus.log").read_text(errors="replace")[-2000:]
            try:
                up = [r for r in prometheus_query(prom_port, 'up{job="ocsp-responder"}') if r["value"][1] == "1"]
                requests = prometheus_query(prom_port, 'mtls_ocsp_requests_total{status="revoked",cache_hit="true"}')
            except OSError:
                continue
        assert up, "up{job=\"ocsp-responder\"} never became 1"
        assert requests and float(requests[0]["value"][1]) == 1, requests
        rules = json.loads(http_request(prom_port, "GET", "/api/v1/rules").body)
        names = {rule["name"] for group in rules["data"]["groups"] for rule in group["rules"]}
        assert {"OcspResponderDown", "OcspSigningFailures", "OcspSignerExpiringSoon"} <= names
        # Every query of the Grafana dashboard is one this Prometheus accepts, over ocspd's series.
        dashboard = json.loads((REPO_ROOT / "Config" / "grafana" / "ocsp-responder.json").read_text())
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                query = target["expr"].replace("$__rate_interval", "1m").replace("$instance", ".*")
                res = http_request(prom_port, "GET", "/api/v1/query?query=" + urllib.parse.quote(query))
                answer = json.loads(res.body)
                assert res.status == 200 and answer["status"] == "success", (panel["title"], query, answer)
        assert prometheus_query(prom_port, 'sum(ocsp_ready{job="ocsp-responder"})')[0]["value"][1] == "1"
    finally:
        prom.terminate()
        try:
            prom.wait(timeout=10)
        except subprocess.TimeoutExpired:
            prom.kill()
            prom.wait()
        prom_log.close()
        server.stop()


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is installed by make test")
def test_alert_rules_pass_promtool_check_and_unit_tests():
    check = run(["promtool", "check", "rules", CONFIG / "ocsp-alerts.yml"])
    assert check.returncode == 0, check.stdout + check.stderr
    assert "6 rules found" in check.stdout + check.stderr
    tests = run(["promtool", "test", "rules", "ocsp-alerts.test.yml"], cwd=CONFIG)
    assert tests.returncode == 0 and "SUCCESS" in tests.stdout + tests.stderr, tests.stdout + tests.stderr
    config = run(["promtool", "check", "config", CONFIG / "prometheus.yml"])
    assert config.returncode == 0, config.stdout + config.stderr


def test_logs_are_json_lines_with_ocsp_status(bins, demo, log_dir):
    server = start(bins, demo / "store", log_dir, "--log-level", "debug")
    try:
        post_ocsp(server.port, b"\x30\x03\x02\x01\x00")
        parse_ok_response(post_ocsp(server.port, leaf_request(demo, "leaf-ec-01")))
    finally:
        server.stop()
    lines = [line for line in server.stderr_text().splitlines() if line.strip()]
    assert lines, server.diagnostics()
    objects = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"timestamp", "level", "label", "message"} <= set(o) for o in objects)
    assert any(o["message"] == "started" for o in objects)
    refused = [o for o in objects if o.get("ocsp_status") == "malformedRequest"]
    assert refused and refused[0]["level"] == "debug", objects
    assert not any("PRIVATE KEY" in line for line in lines)


def readyz(port: int) -> tuple[int, dict]:
    res = http_request(port, "GET", "/readyz")
    return res.status, json.loads(res.body)


def wait_readyz(port: int, status: int, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        code, body = readyz(port)
        if code == status or time.monotonic() > deadline:
            assert code == status, body
            return body
        time.sleep(0.2)


def test_readyz_follows_the_signer_key_through_sighup(bins, demo, log_dir):
    server = start(bins, demo / "store", log_dir)
    key = demo / "responder.key"
    try:
        assert wait_readyz(server.port, 200) == {"ready": True}
        assert http_request(server.port, "GET", "/healthz").status == 200
        key.rename(demo / "responder.key.away")          # the key is gone...
        server.proc.send_signal(signal.SIGHUP)             # ...and a reload drops the loaded one
        body = wait_readyz(server.port, 503)
        assert body["ready"] is False and any("cannot sign" in r for r in body["reasons"]), body
        # A response that must be signed now cannot be: tryLater, never a stale answer.
        res = post_ocsp(server.port, leaf_request(demo, "leaf-ec-01", nonce=b"x" * 16))
        assert ocsp.load_der_ocsp_response(res.body).response_status == ocsp.OCSPResponseStatus.TRY_LATER
        assert http_request(server.port, "GET", "/healthz").status == 200   # alive all along
        (demo / "responder.key.away").rename(key)
        server.proc.send_signal(signal.SIGHUP)
        assert wait_readyz(server.port, 200) == {"ready": True}
        parse_ok_response(post_ocsp(server.port, leaf_request(demo, "leaf-ec-01", nonce=b"y" * 16)))
    finally:
        server.stop()
    assert server.proc.returncode == 0, server.diagnostics()


def test_metrics_listen_moves_metrics_and_health_to_their_own_address(bins, demo, log_dir):
    server = Ocspd(bins, demo / "store", log_dir, extra=["--metrics-listen", "127.0.0.1:0"])
    try:
        port = server.wait_ready()
        line = server._lines.get(timeout=10)
        prefix = "ocspd metrics on http://127.0.0.1:"
        assert line and line.startswith(prefix), line
        metrics_port = int(line[len(prefix):].split("/")[0])
        parse_ok_response(get_ocsp(port, b64(leaf_request(demo, "leaf-ec-01"))))
        assert requests_total(scrape(metrics_port), "good", "true") == 1
        assert readyz(metrics_port)[0] == 200
        for path in ["/metrics", "/readyz", "/healthz"]:
            # On the OCSP listener these are just GET paths: not base64 DER, so malformedRequest.
            res = http_request(port, "GET", path)
            assert res.content_type == "application/ocsp-response", (path, res)
            assert ocsp.load_der_ocsp_response(res.body).response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST
        assert http_request(metrics_port, "GET", "/" + b64(leaf_request(demo, "leaf-ec-01"))).status == 404
        assert http_request(metrics_port, "POST", "/", body=leaf_request(demo, "leaf-ec-01"),
                            headers={"Content-Type": "application/ocsp-request"}).status == 404
    finally:
        server.stop()


def test_the_request_log_samples_requests_with_their_fields(bins, demo, log_dir):
    server = start(bins, demo / "store", log_dir, "--request-log-sample", "1")
    try:
        leaf = load_cert(demo / "leaves" / "leaf-ec-02.pem")
        for _ in range(2):   # the same GET twice: both answered from the signature cache
            parse_ok_response(get_ocsp(server.port, b64(leaf_request(demo, "leaf-ec-02"))))
        parse_ok_response(post_ocsp(server.port, leaf_request(demo, "leaf-ec-01", nonce=b"z" * 16)))
    finally:
        server.stop()
    lines = [json.loads(line) for line in server.stderr_text().splitlines() if line.strip()]
    logged = [o for o in lines if o["message"] == "OCSP request"]
    assert len(logged) == 3, lines
    first, _, nonce = logged
    assert first["ocsp_status"] == "revoked" and first["cache_hit"] == "true" and first["method"] == "GET"
    assert first["serial"] == format(leaf.serial_number, "X").rjust(len(first["serial"]), "0")
    assert first["hash_algorithm"] == "SHA-1" and first["client"] == "127.0.0.1"
    assert len(first["issuer_key_hash"]) == 40 and int(first["latency_us"]) >= 0
    assert nonce["ocsp_status"] == "good" and nonce["cache_hit"] == "false" and nonce["method"] == "POST"
    assert nonce["nonce"] == "true"
    assert len({o["request_id"] for o in logged}) == 3


def test_without_sampling_no_request_is_logged(bins, demo, log_dir):
    server = start(bins, demo / "store", log_dir)
    try:
        for _ in range(20):
            parse_ok_response(get_ocsp(server.port, b64(leaf_request(demo, "leaf-ec-01"))))
    finally:
        server.stop()
    assert "OCSP request\"" not in server.stderr_text()


def test_status_changes_ocspd_observes_are_logged(bins, demo, log_dir):
    server = start(bins, demo / "store", log_dir)
    leaf = demo / "leaves" / "leaf-ec-06.pem"
    try:
        ctl_ok(bins, "revoke", "--store", demo / "store", "--cert", leaf, "--reason", "keyCompromise")
        ctl_ok(bins, "hold", "--store", demo / "store", "--cert", demo / "leaves" / "leaf-ec-07.pem")
        deadline = time.monotonic() + 10
        while server.stderr_text().count("certificate status changed") < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        server.stop()
    changes = [json.loads(line) for line in server.stderr_text().splitlines()
               if "certificate status changed" in line]
    serial = format(load_cert(leaf).serial_number, "X")
    revoked = [c for c in changes if c["serial"].lstrip("0") == serial.lstrip("0")]
    assert revoked and revoked[0]["status"] == "revoked" and revoked[0]["reason"] == "keyCompromise", changes
    assert any(c["status"] == "hold" for c in changes), changes
    assert all(c["level"] == "notice" for c in changes)
