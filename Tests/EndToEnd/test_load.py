"""`ocsp-load` against a live ocspd: closed and open loop, sampled verification, the JSON report,
the SVG plot, and the exit status on errors and bad arguments.

Binaries: $OCSPD_BIN, $OCSPCTL_BIN, $OCSP_LOAD_BIN (default <repo>/.build/debug/<name>).
Every run is bounded (a few seconds, loopback only); the whole module takes about 10 s.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ocsp_e2e import REPO_ROOT, SANITIZER, ctl_ok, describe, run, start_ocspd

PERCENTILE_FIELDS = ["min", "mean", "stddev", "p50", "p75", "p90", "p99", "p99_9", "p99_99", "max"]
SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def load_bin() -> Path:
    path = Path(os.environ.get("OCSP_LOAD_BIN") or REPO_ROOT / ".build" / "debug" / "ocsp-load")
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"the load tests need the ocsp-load binary, not found / not executable: {path}\n"
                    f"Run `swift build` in {REPO_ROOT} first (or point $OCSP_LOAD_BIN at it).", pytrace=False)
    return path


@pytest.fixture(scope="module")
def demo(bins, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("load-demo")
    ctl_ok(bins, "demo", "--dir", d, "--url", "http://127.0.0.1:8080/")
    return d


@pytest.fixture(scope="module")
def ocspd(bins, demo, log_dir):
    d = start_ocspd(bins, demo / "store", log_dir)
    try:
        yield d
    finally:
        d.stop()


def load(load_bin: Path, *args, timeout: float = 30) -> subprocess.CompletedProcess:
    return run([load_bin, *args], timeout=timeout)


def read_report(path: Path, proc: subprocess.CompletedProcess) -> dict:
    assert path.is_file(), "no JSON report written:" + describe(proc)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        pytest.fail(f"--json did not write JSON ({e}):" + describe(proc))


def check_report(report: dict, proc: subprocess.CompletedProcess) -> None:
    where = describe(proc)
    assert report["errorCount"] == 0 and report["errors"] == {}, f"errors {report['errors']}:" + where
    latency = report["latencyMicroseconds"]
    for field in PERCENTILE_FIELDS:
        assert isinstance(latency.get(field), (int, float)), f"latencyMicroseconds.{field} missing:" + where
    assert 0 < latency["min"] <= latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["p99_9"] \
        <= latency["max"], f"percentiles out of order {latency}:" + where
    assert latency["max"] < 5_000_000, "a response took over 5 s on loopback:" + where
    points = report["percentileDistribution"]
    assert len(points) >= 5, "percentile distribution too short:" + where
    assert points[0]["percentile"] == 0 and points[-1]["percentile"] == 100, where
    assert report["successes"] == report["requests"], where
    verification = report["verification"]
    assert verification["failed"] == 0, where
    assert verification["checked"] > 0, "--verify-sample 0.05 checked nothing:" + where
    assert verification["passed"] == verification["checked"], where


def check_svg(path: Path) -> None:
    assert path.is_file() and path.stat().st_size > 0, f"no SVG at {path}"
    root = ET.parse(path).getroot()  # raises if it is not well-formed XML
    assert root.tag == SVG_NS + "svg", f"root element is {root.tag}"
    lines = root.findall(f".//{SVG_NS}polyline") + root.findall(f".//{SVG_NS}path")
    assert lines, "the SVG has no polyline or path (no latency curve)"
    assert any(len(line.get("points", line.get("d", "")).split()) >= 5 for line in lines), \
        "the latency curve has fewer than 5 points"
    text = "".join(root.itertext())
    assert "99%" in text and "Latency" in text, "axis labels missing"


def test_closed_loop(load_bin, ocspd, demo, tmp_path):
    out, svg = tmp_path / "closed.json", tmp_path / "closed.svg"
    proc = load(load_bin, "--url", ocspd.url, "--store", demo / "store", "--duration", "3s",
                "--connections", "16", "--verify-sample", "0.05", "--json", out, "--plot", svg)
    assert proc.returncode == 0, "ocsp-load failed:" + describe(proc)
    report = read_report(out, proc)
    check_report(report, proc)
    config = report["configuration"]
    assert config["mode"] == "closed" and config["connections"] == 16 and config["method"] == "get"
    assert config["distinctRequests"] == 12, "the demo store has 12 certificates"
    # Even debug builds on a loaded 2-core machine answer hundreds of requests a second.
    assert report["requests"] >= 300, f"only {report['requests']} requests in 3 s:" + describe(proc)
    assert 2.5 <= report["durationSeconds"] <= 3.5
    assert report["requestsPerSecond"] == pytest.approx(report["requests"] / report["durationSeconds"], rel=0.01)
    assert "req/s" in proc.stdout and "p99" in proc.stdout, "no human table on stdout:" + describe(proc)
    check_svg(svg)


def test_open_loop_post_and_get(load_bin, ocspd, demo, tmp_path):
    out, svg = tmp_path / "open.json", tmp_path / "open.svg"
    rate, seconds = 400, 2
    proc = load(load_bin, "--url", ocspd.url, "--store", demo / "store", "--duration", f"{seconds}s",
                "--rate", str(rate), "--connections", "8", "--method", "mix", "--post-fraction", "0.5",
                "--verify-sample", "0.05", "--json", out, "--plot", svg)
    assert proc.returncode == 0, "ocsp-load failed:" + describe(proc)
    report = read_report(out, proc)
    check_report(report, proc)
    config = report["configuration"]
    assert config["mode"] == "open" and config["rate"] == rate and config["method"] == "mix"
    # Open loop sends on schedule: the count is the rate times the window, less any backlog.
    expected = rate * seconds
    assert report["requests"] + report["unsent"] == pytest.approx(expected, rel=0.05), describe(proc)
    assert report["requests"] >= 0.8 * expected, describe(proc)
    check_svg(svg)


def test_requests_file_round_trip(load_bin, ocspd, demo, tmp_path):
    requests = tmp_path / "requests.txt"
    proc = load(load_bin, "--store", demo / "store", "--write-requests", requests)
    assert proc.returncode == 0, describe(proc)
    lines = [line for line in requests.read_text().splitlines() if line and not line.startswith("#")]
    assert len(lines) == 12
    out = tmp_path / "file.json"
    proc = load(load_bin, "--url", ocspd.url, "--requests", requests, "--store", demo / "store",
                "--requests-total", "200", "--connections", "4", "--verify-sample", "1", "--json", out)
    assert proc.returncode == 0, describe(proc)
    report = read_report(out, proc)
    assert report["requests"] == 200 and report["errorCount"] == 0, describe(proc)
    assert report["verification"]["checked"] + report["verification"]["skipped"] == 200, describe(proc)
    assert report["verification"]["failed"] == 0, describe(proc)


def test_errors_give_nonzero_exit(load_bin, demo, tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "refused.json"
    proc = load(load_bin, "--url", f"http://127.0.0.1:{port}/", "--store", demo / "store", "--duration", "1s",
                "--connections", "2", "--json", out)
    assert proc.returncode == 1, "connection errors must fail the run:" + describe(proc)
    report = read_report(out, proc)
    assert report["errors"].get("connect-refused", 0) > 0 and report["requests"] == 0, describe(proc)


@pytest.mark.parametrize("args, message", [
    (["--url", "http://127.0.0.1:1/"], "--store DIR or --requests FILE"),
    (["--url", "https://127.0.0.1:1/", "--store", "x"], "https is not supported"),
    (["--url", "http://127.0.0.1:1/", "--store", "x", "--duration", "5 parsecs"], "--duration"),
    (["--url", "http://127.0.0.1:1/", "--store", "x", "--method", "put"], "--method"),
    (["--url", "http://127.0.0.1:1/", "--store", "x", "--verify-sample", "2"], "--verify-sample"),
])
def test_bad_arguments(load_bin, args, message):
    proc = load(load_bin, *args)
    assert proc.returncode == 64, "bad arguments must exit 64:" + describe(proc)
    assert message in proc.stderr, f"expected {message!r} on stderr:" + describe(proc)


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


@pytest.mark.skipif(bool(SANITIZER), reason="resident memory means nothing under a sanitizer (ASan finds leaks itself)")
@pytest.mark.parametrize("method", ["post", "get"])
def test_memory_stays_flat_under_load(load_bin, ocspd, demo, tmp_path, method):
    """40 000 requests after a warm-up leave ocspd's resident memory where it was: each POST's
    body buffer is freed (a nil callback argument once leaked ~160 bytes a POST, 6 MB here)."""
    def burst(total: int) -> None:
        out = tmp_path / f"{method}-{total}.json"
        proc = load(load_bin, "--url", ocspd.url, "--store", demo / "store", "--method", method,
                    "--requests-total", str(total), "--connections", "8", "--threads", "1",
                    "--verify-sample", "0", "--json", out, timeout=120)
        assert proc.returncode == 0, describe(proc)
        assert read_report(out, proc)["errorCount"] == 0, describe(proc)

    burst(5_000)  # warm-up: thread contexts, pools, front cache, page cache
    before = _rss_kb(ocspd.proc.pid)
    burst(40_000)
    grown = _rss_kb(ocspd.proc.pid) - before
    assert grown < 2_048, f"ocspd grew by {grown} kB over 40 000 {method.upper()}s"


def test_population_orders_and_url_safe_gets(load_bin, demo, ocspd, tmp_path):
    """--order uniform/zipf with url-safe GET paths: every sampled answer checked against the store."""
    for order in ("uniform", "zipf"):
        report_path = tmp_path / f"{order}.json"
        proc = load(load_bin, "--url", ocspd.url, "--store", demo / "store", "--order", order,
                    "--get-encoding", "url-safe", "--connections", "4", "--threads", "1",
                    "--duration", "1s", "--verify-sample", "0.05", "--json", report_path)
        assert proc.returncode == 0, describe(proc)
        report = read_report(report_path, proc)
        check_report(report, proc)
        assert report["configuration"]["order"].startswith(order), report["configuration"]


def test_written_responses_are_the_bytes_ocspd_serves(load_bin, demo, ocspd, tmp_path):
    """--write-responses: one file per request, named by its url-safe GET path, holding exactly
    what ocspd answers on that path (what nginx then serves in bench.sh's population rows)."""
    out = tmp_path / "www"
    proc = load(load_bin, "--store", demo / "store", "--write-responses", out)
    assert proc.returncode == 0, describe(proc)
    files = sorted(out.iterdir())
    assert len(files) == 12, f"the demo store has 12 certificates: {[f.name for f in files]}"
    for file in files:
        assert "/" not in file.name and "+" not in file.name and "=" not in file.name, file.name
        with socket.create_connection(("127.0.0.1", ocspd.port), timeout=10) as connection:
            connection.sendall(f"GET /{file.name} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            answer = b""
            while chunk := connection.recv(65536):
                answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        assert body == file.read_bytes(), f"{file.name}: ocspd served other bytes than the file holds"
