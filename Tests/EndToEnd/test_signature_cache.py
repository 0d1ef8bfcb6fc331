"""The signature cache (issue 12) against the real ocspd and ocspctl, checked with python
`cryptography` and `openssl ocsp`: no stale `good` after a revocation, refresh before nextUpdate,
nonces echoed and never cached, ETag/304, hold/unhold, presign."""

from __future__ import annotations

import http.client
import os
import re
import threading
import time
from pathlib import Path

from cryptography.x509 import ocsp

from ocsp_e2e import (
    HTTP_TIMEOUT, b64, build_request, ctl_ok, get_ocsp, load_cert, openssl_ok, parse_ok_response,
    post_ocsp, response_nonce, start_with as start, verify_signature,
)


def request_for(demo: Path, leaf: str, nonce: bytes | None = None) -> bytes:
    return build_request(load_cert(demo / "leaves" / f"{leaf}.pem"), load_cert(demo / "ec-root.pem"), nonce=nonce)


def single_status(body: bytes) -> str:
    resp = ocsp.load_der_ocsp_response(body)
    assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    return resp.certificate_status.name.lower()


def test_revocation_is_never_answered_good_after_ocspctl_returns(bins, demo, log_dir):
    """Tight loops of GET and POST queries on four connections (so on each of ocspd's threads,
    each with its own front cache) while `ocspctl revoke` runs: every query sent after revoke
    returned says revoked; none says good."""
    server = start(bins, demo / "store", log_dir)
    try:
        der = request_for(demo, "leaf-ec-03")
        path = "/" + b64(der)
        samples: list[tuple[float, str]] = []  # (send time, status)
        stop = threading.Event()
        errors: list[str] = []

        def hammer():
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=HTTP_TIMEOUT)
            deadline = time.monotonic() + 20
            use_get = True
            while not stop.is_set() and time.monotonic() < deadline and len(samples) < 200_000:
                sent = time.monotonic()
                try:
                    res = get_ocsp(server.port, path[1:], conn=conn) if use_get else post_ocsp(server.port, der, conn=conn)
                    samples.append((sent, single_status(res.body)))
                except Exception as e:  # noqa: BLE001
                    errors.append(repr(e))
                    return
                use_get = not use_get
            conn.close()

        workers = [threading.Thread(target=hammer) for _ in range(4)]
        for worker in workers:
            worker.start()
        time.sleep(0.5)
        ctl_ok(bins, "revoke", "--store", demo / "store", "--cert", demo / "leaves" / "leaf-ec-03.pem",
               "--reason", "keyCompromise")
        returned = time.monotonic()
        time.sleep(0.5)
        stop.set()
        for worker in workers:
            worker.join(timeout=30)
        assert not errors, errors
        before = [s for t, s in samples if t < returned]
        after = [s for t, s in samples if t >= returned]
        assert before and set(before) <= {"good", "revoked"}, f"{len(before)} queries before revoke"
        assert "good" in before, "the loop never saw the certificate good before the revocation"
        assert len(after) >= 50, f"only {len(after)} queries after revoke returned"
        stale = after.count("good")
        assert stale == 0, f"{stale} of {len(after)} queries sent after `ocspctl revoke` returned said good"
        first_revoked = min(t for t, s in samples if s == "revoked")
        print(f"\n{len(samples)} queries; first revoked answer sent {1000 * (first_revoked - returned):.2f} ms "
              f"after ocspctl returned (negative: before, while it committed)")
    finally:
        server.stop()


def test_refresher_resigns_before_next_update(bins, demo, log_dir):
    """With a 4 s validity and refresh at half, the cached response is re-signed (thisUpdate moves)
    before its nextUpdate, without a request having to wait for it. Whatever the refresher's delay,
    no response arrives past its nextUpdate: the responder keeps a serving margin (1 s here)."""
    server = start(bins, demo / "store", log_dir, "--validity", "4", "--refresh-fraction", "0.5")
    try:
        der = request_for(demo, "leaf-ec-01")
        first = parse_ok_response(post_ocsp(server.port, der))
        seen = {first.this_update_utc}
        # Two refreshes take about 4 s; the margin is for slow builds (sanitizers) and busy machines.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(seen) < 3:
            resp = parse_ok_response(get_ocsp(server.port, b64(der)))
            now = time.time()
            assert resp.next_update_utc.timestamp() > now, "served a response past its nextUpdate"
            assert (resp.next_update_utc - resp.this_update_utc).total_seconds() == 4
            verify_signature(resp, load_cert(demo / "responder.pem"))
            seen.add(resp.this_update_utc)
            time.sleep(0.2)
        assert len(seen) >= 3, f"thisUpdate values seen in 20 s: {sorted(seen)}"
    finally:
        server.stop()


def test_nonce_is_echoed_and_never_cached(bins, demo, log_dir):
    server = start(bins, demo / "store", log_dir)
    try:
        plain = get_ocsp(server.port, b64(request_for(demo, "leaf-ec-01")))
        bodies = set()
        for nonce in (os.urandom(16), os.urandom(16)):
            res = post_ocsp(server.port, request_for(demo, "leaf-ec-01", nonce=nonce))
            resp = parse_ok_response(res)
            assert response_nonce(resp) == nonce, "nonce not echoed"
            assert "etag" not in res.headers
            bodies.add(res.body)
            # GET with a nonce: same, and not cacheable by intermediaries either
            res = get_ocsp(server.port, b64(request_for(demo, "leaf-ec-01", nonce=nonce)))
            assert response_nonce(parse_ok_response(res)) == nonce
            assert "no-store" in res.headers.get("cache-control", "")
        assert len(bodies) == 2
        again = get_ocsp(server.port, b64(request_for(demo, "leaf-ec-01")))
        assert again.body == plain.body, "a nonce request changed the cached response"
        assert response_nonce(ocsp.load_der_ocsp_response(again.body)) is None
    finally:
        server.stop()


def test_get_has_rfc5019_headers_and_if_none_match_gives_304(bins, demo, log_dir):
    server = start(bins, demo / "store", log_dir)
    try:
        path = b64(request_for(demo, "leaf-ec-04"))
        res = get_ocsp(server.port, path)
        resp = parse_ok_response(res)
        cc = res.headers["cache-control"]
        m = re.fullmatch(r"max-age=(\d+), public, no-transform, must-revalidate", cc)
        assert m, cc
        remaining = resp.next_update_utc.timestamp() - time.time()
        assert 0 < int(m.group(1)) <= remaining + 1
        for header in ("etag", "last-modified", "expires"):
            assert header in res.headers, res.headers
        etag = res.headers["etag"]
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=HTTP_TIMEOUT)
        conn.request("GET", "/" + path, headers={"If-None-Match": etag})
        r = conn.getresponse()
        assert r.status == 304 and r.read() == b"" and r.getheader("ETag") == etag
        conn.request("GET", "/" + path, headers={"If-None-Match": '"0000000000000000"'})
        r = conn.getresponse()
        assert r.status == 200 and r.read() == res.body
        conn.close()
        post = post_ocsp(server.port, request_for(demo, "leaf-ec-04"))
        assert post.body == res.body
        assert "no-store" in post.headers.get("cache-control", "") and "etag" not in post.headers
    finally:
        server.stop()


def test_hold_and_unhold_are_answered_at_once(bins, demo, log_dir):
    server = start(bins, demo / "store", log_dir)
    try:
        leaf = demo / "leaves" / "leaf-ec-05.pem"

        def query():
            proc = openssl_ok("ocsp", "-issuer", demo / "ec-root.pem", "-cert", leaf, "-url", server.url,
                              "-CAfile", demo / "ec-root.pem", "-VAfile", demo / "responder.pem", "-no_nonce")
            assert "Response verify OK" in proc.stderr + proc.stdout, proc.stderr
            return proc.stdout

        assert ": good" in query()
        ctl_ok(bins, "hold", "--store", demo / "store", "--cert", leaf)
        out = query()
        assert ": revoked" in out and "Reason: certificateHold" in out, out
        ctl_ok(bins, "unhold", "--store", demo / "store", "--cert", leaf)
        assert ": good" in query()
        # a key-compromised certificate cannot be held or unheld
        ctl_ok(bins, "revoke", "--store", demo / "store", "--cert", leaf, "--reason", "keyCompromise")
        from ocsp_e2e import ctl
        for verb in ("hold", "unhold"):
            proc = ctl(bins, verb, "--store", demo / "store", "--cert", leaf)
            assert proc.returncode != 0 and proc.stderr.strip(), proc
        assert "Reason: keyCompromise" in query()
    finally:
        server.stop()


def test_presign_reports_count_and_rate(bins, demo):
    proc = ctl_ok(bins, "presign", "--store", demo / "store")
    m = re.search(r"signed (\d+) responses in [\d.]+ s \((\d+) responses/s", proc.stdout)
    assert m, proc.stdout
    assert int(m.group(1)) == 12 and int(m.group(2)) > 0
