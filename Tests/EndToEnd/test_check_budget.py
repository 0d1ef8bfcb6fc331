"""Issue 32: what a dead network costs `ocspctl check` with the seeds' policy (OCSP, then the CRL,
5 s in all), against real sockets: a responder that refuses connections, one that is black-holed
(its SYNs dropped: a listening socket whose accept queue is full), and one that answers too late.
ocspd serves the CRL (its delta URL, in the certificates' CRL, points at a refused port too).

Each test prints its measured times (`pytest -s`); the assertions keep margins for a loaded
2-core machine, and the goal figures are in the issue's note."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from ocsp_e2e import Ocspd, ctl_ok, describe
from test_revocation_check import check, leaf
from tls_servers import free_port

SEED = """revocation_checking:
  method: ocsp_stapling
  fallback: ocsp
  must_staple: true
  crl_fallback: true
  soft_fail: false
  cache_ttl: 3600
  timeout: 5s
"""


@pytest.fixture()
def site(bins, tmp_path, log_dir):
    """The demo PKI: certificates whose CRL Distribution Point is ocspd, and ocspd's CRLs naming
    a delta under a public URL that refuses connections (a dead CRL host)."""
    port, dead = free_port(), f"http://127.0.0.1:{free_port()}/"
    demo = tmp_path / "demo"
    ctl_ok(bins, "demo", "--dir", demo, "--url", f"http://127.0.0.1:{port}/")
    # The complete CRL ocspd serves (until it is due) names its delta on the dead host.
    ctl_ok(bins, "crl", "generate", "--store", demo / "store", "--issuer", demo / "ec-root.pem", "--base-url", dead)
    server = Ocspd(bins, demo / "store", log_dir, port=port, extra=["--public-url", dead])
    server.wait_ready()
    yield demo, server
    server.stop()


@contextlib.contextmanager
def black_hole() -> Iterator[str]:
    """A URL whose connections never complete: the listener's accept queue (backlog 0) is held
    full by one connection never accepted, so the kernel drops every further SYN."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        fillers = []
        try:
            for _ in range(3):  # the queue holds backlog + 1
                filler = socket.socket()
                filler.setblocking(False)
                filler.connect_ex(listener.getsockname())
                fillers.append(filler)
            time.sleep(0.2)
            yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
        finally:
            for filler in fillers:
                filler.close()


@contextlib.contextmanager
def slow_responder(delay: float) -> Iterator[str]:
    """A URL that accepts, reads the request, and answers nothing for `delay` seconds."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            connection.recv(65536)
            stop.wait(delay)
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def decide(bins, demo: Path, tmp_path: Path, url: str, policy: str = SEED) -> tuple[dict, float]:
    started = time.monotonic()
    proc, decision = check(bins, *leaf(demo, "leaf-ec-01"), "--url", url, policy=policy, tmp_path=tmp_path)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0 and decision["decision"] == "accept" and decision["source"] == "crl", \
        f"the CRL must get its turn and decide: {decision}" + describe(proc)
    return decision, elapsed


def report(what: str, decision: dict, elapsed: float) -> None:
    attempts = ", ".join(f"{a['source']} {a.get('url', '')} {a.get('status') or 'no answer'} {a['milliseconds']} ms"
                         for a in decision["attempts"])
    print(f"\n{what}: decided in {elapsed * 1000:.0f} ms (process included): {attempts}")


def test_a_refused_responder_costs_milliseconds_and_the_crl_decides(bins, site, tmp_path):
    demo, _ = site
    dead = f"http://127.0.0.1:{free_port()}/"
    decision, elapsed = decide(bins, demo, tmp_path, dead)
    report("refused responder, refused delta", decision, elapsed)
    ocsp, crl = decision["attempts"][0], decision["attempts"][1]
    assert ocsp["source"] == "ocsp" and ocsp["url"] == dead and "refused" in ocsp["error"].lower(), decision
    # The goal is 50 ms; before issue 32 it was 2 500 (async-http-client retried until its deadline).
    assert ocsp["milliseconds"] <= 500, decision
    assert crl["source"] == "crl" and crl["status"] == "good", decision
    # The dead delta: tried, refused at once, the complete CRL's answer stands.
    delta = decision["attempts"][2]
    assert delta["url"].endswith("-delta.crl") and delta.get("error") and delta["milliseconds"] <= 500, decision
    assert elapsed < 5, "well within the 5 s budget"


def test_a_black_holed_responder_costs_its_share_and_the_crl_decides(bins, site, tmp_path):
    demo, _ = site
    with black_hole() as url:
        decision, elapsed = decide(bins, demo, tmp_path, url)
        report("black-holed responder (share: half of 5 s)", decision, elapsed)
        ocsp = decision["attempts"][0]
        assert ocsp["url"] == url and ocsp.get("error"), decision
        assert 2000 <= ocsp["milliseconds"] <= 3000, f"half the budget, not all of it: {decision}"
        policy = SEED + "  source_timeout: 1s\n"
        decision, elapsed = decide(bins, demo, tmp_path, url, policy)
        report("black-holed responder, source_timeout 1s", decision, elapsed)
        assert 800 <= decision["attempts"][0]["milliseconds"] <= 1600, decision
        policy = SEED + "  connect_timeout: 300ms\n"
        decision, elapsed = decide(bins, demo, tmp_path, url, policy)
        report("black-holed responder, connect_timeout 300ms", decision, elapsed)
        assert decision["attempts"][0]["milliseconds"] <= 1000, decision


def test_a_slow_responder_costs_its_share_and_the_crl_decides(bins, site, tmp_path):
    demo, _ = site
    with slow_responder(10) as url:
        decision, elapsed = decide(bins, demo, tmp_path, url)
        report("responder answering after 10 s (share: half of 5 s)", decision, elapsed)
        ocsp = decision["attempts"][0]
        assert ocsp["url"] == url and "timed out" in ocsp["error"].lower() and 2000 <= ocsp["milliseconds"] <= 3000, decision


def test_the_plain_output_names_every_url_even_when_the_budget_runs_out(bins, site, tmp_path):
    demo, _ = site
    with black_hole() as url:
        path = tmp_path / "policy.yaml"
        path.write_text("method: ocsp\ncrl_fallback: false\ntimeout: 1s\n")
        from ocsp_e2e import ctl
        proc = ctl(bins, "check", *leaf(demo, "leaf-ec-01"), "--url", url, "--policy", path, timeout=60)
        assert proc.returncode == 1 and proc.stdout.startswith("REJECT: hard fail"), describe(proc)
        assert f"  ocsp {url}: no answer" in proc.stdout, describe(proc)
