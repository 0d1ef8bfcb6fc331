"""`ocspctl check` (issue 22, first part): the relying party's policy applied against a running
ocspd, its CRLs and staples, with responses and CRLs made or checked by independent code
(python `cryptography`, `openssl`)."""

from __future__ import annotations

import datetime as dt
import json
import socket
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from ocsp_e2e import STAPLER_BIN, Ocspd, ctl, ctl_ok, describe, load_cert, openssl_ok, run
from tls_servers import free_port


@pytest.fixture()
def site(bins, tmp_path, log_dir):
    """A demo PKI whose certificates point at the port ocspd then listens on (AIA and CRL DP)."""
    port = free_port()
    demo = tmp_path / "demo"
    ctl_ok(bins, "demo", "--dir", demo, "--url", f"http://127.0.0.1:{port}/")
    # The public URL is what the CRLs name their deltas under (nothing unless configured).
    server = Ocspd(bins, demo / "store", log_dir, port=port, extra=["--public-url", f"http://127.0.0.1:{port}/"])
    server.wait_ready()
    yield demo, server
    server.stop()


def check(bins, *args, policy: str | None = None, tmp_path: Path | None = None) -> tuple[subprocess.CompletedProcess, dict]:
    extra = []
    if policy is not None:
        path = tmp_path / f"policy-{time.monotonic_ns()}.yaml"
        path.write_text(policy)
        extra = ["--policy", path]
    proc = ctl(bins, "check", *args, *extra, "--json", timeout=60)
    assert proc.returncode in (0, 1), describe(proc)
    return proc, json.loads(proc.stdout)


def leaf(demo: Path, name: str) -> list:
    return ["--cert", demo / "leaves" / f"{name}.pem", "--issuer", demo / "ec-root.pem"]


def test_good_and_revoked_over_ocsp_with_the_seed_policy(bins, site, tmp_path):
    demo, _ = site
    seed = """revocation_checking:
  method: ocsp_stapling
  fallback: ocsp
  must_staple: true
  crl_fallback: false
  soft_fail: false
  cache_ttl: 3600
  timeout: 5s
"""
    proc, good = check(bins, *leaf(demo, "leaf-ec-01"), policy=seed, tmp_path=tmp_path)
    assert proc.returncode == 0 and good["decision"] == "accept" and good["status"] == "good", describe(proc)
    assert good["source"] == "ocsp" and good["attempts"][0]["url"].startswith("http://127.0.0.1:")
    proc, revoked = check(bins, *leaf(demo, "leaf-ec-02"), policy=seed, tmp_path=tmp_path)
    assert proc.returncode == 1 and revoked["decision"] == "reject" and revoked["status"] == "revoked"
    assert "keyCompromise" in revoked["reason"]
    # The same policy as JSON.
    proc, again = check(bins, *leaf(demo, "leaf-ec-01"), tmp_path=tmp_path,
                        policy=json.dumps({"method": "ocsp", "soft_fail": False, "timeout": "5s"}))
    assert again["decision"] == "accept", describe(proc)
    # A misspelt key is a usage error, on one line.
    path = tmp_path / "bad.yaml"
    path.write_text("revocation_checking:\n  soft_fial: true\n")
    proc = ctl(bins, "check", *leaf(demo, "leaf-ec-01"), "--policy", path)
    assert proc.returncode == 2 and "soft_fial" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_responder_down_hard_fail_refuses_soft_fail_accepts(bins, site, tmp_path):
    demo, _ = site
    dead = f"http://127.0.0.1:{free_port()}/"
    proc, hard = check(bins, *leaf(demo, "leaf-ec-01"), "--url", dead, policy="soft_fail: false\ntimeout: 2s\n", tmp_path=tmp_path)
    assert proc.returncode == 1 and hard["decision"] == "reject" and hard["source"] == "failure_mode", describe(proc)
    assert hard["reason"].startswith("hard fail")
    proc, soft = check(bins, *leaf(demo, "leaf-ec-01"), "--url", dead, policy="soft_fail: true\ntimeout: 2s\n", tmp_path=tmp_path)
    assert proc.returncode == 0 and soft["decision"] == "accept" and soft["source"] == "failure_mode", describe(proc)
    assert "accepted because soft_fail is true" in proc.stderr and "warning" in proc.stderr, describe(proc)


def test_a_responder_that_never_answers_ends_at_the_timeout(bins, site, tmp_path):
    demo, _ = site
    started = time.monotonic()
    ctl_ok(bins, "check", "--help")
    startup = time.monotonic() - started  # what a run costs besides the check (more under a sanitizer)
    with socket.socket() as silent:  # accepts connections (the kernel's backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        for timeout, soft, verdict in ((1.5, "false", "reject"), (1.0, "true", "accept")):
            started = time.monotonic()
            proc, decision = check(bins, *leaf(demo, "leaf-ec-01"), "--url", url,
                                   policy=f"timeout: {timeout}s\nsoft_fail: {soft}\n", tmp_path=tmp_path)
            elapsed = time.monotonic() - started
            assert decision["decision"] == verdict and decision["source"] == "failure_mode", describe(proc)
            # The whole process within the budget + 0.5 s, besides what a run costs anyway.
            assert timeout - 0.05 <= elapsed <= timeout + 0.5 + startup + 0.5, \
                f"took {elapsed:.2f}s for a {timeout}s budget (a bare run takes {startup:.2f}s)"
            # The responder asked is named, with what it cost, and the budget's end is recorded.
            # (The fetch's own limit and the budget end together: either may be recorded last.)
            ocsp = decision["attempts"][0]
            assert ocsp["source"] == "ocsp" and ocsp["url"] == url and ocsp.get("error"), decision
            longest = max(a["milliseconds"] for a in decision["attempts"])
            assert abs(longest / 1000 - timeout) <= 0.5, decision


def test_crl_fallback_decides_when_the_responder_is_down(bins, site, tmp_path):
    demo, server = site
    dead = f"http://127.0.0.1:{free_port()}/"
    policy = "method: ocsp_stapling\nfallback: ocsp\ncrl_fallback: true\nsoft_fail: false\ntimeout: 4s\n"
    # openssl fetches the same CRL and finds it verifies against the root.
    url = next(line.strip()[4:] for line in openssl_ok("x509", "-in", demo / "leaves" / "leaf-ec-02.pem", "-noout", "-ext",
                                                        "crlDistributionPoints").stdout.splitlines() if "URI:" in line)
    crl_path = tmp_path / "ca.crl"
    subprocess.run(["curl", "-sf", "-o", crl_path, url], check=True, timeout=30)
    assert "verify OK" in openssl_ok("crl", "-inform", "DER", "-in", crl_path, "-CAfile", demo / "ec-root.pem",
                                     "-noout").stderr
    proc, revoked = check(bins, *leaf(demo, "leaf-ec-02"), "--url", dead, policy=policy, tmp_path=tmp_path)
    assert proc.returncode == 1 and revoked["source"] == "crl" and revoked["status"] == "revoked", describe(proc)
    # OCSP, the complete CRL, then its delta when ocspd has published one (Freshest CRL).
    assert [a["source"] for a in revoked["attempts"]][:2] == ["ocsp", "crl"] and revoked["attempts"][1]["url"] == url
    proc, good = check(bins, *leaf(demo, "leaf-ec-01"), "--url", dead, policy=policy, tmp_path=tmp_path)
    assert proc.returncode == 0 and good["source"] == "crl" and good["status"] == "good", describe(proc)
    # Without the fallback, the same outage is a hard fail.
    proc, hard = check(bins, *leaf(demo, "leaf-ec-01"), "--url", dead, policy=policy.replace("true", "false", 1),
                       tmp_path=tmp_path)
    assert hard["decision"] == "reject" and hard["source"] == "failure_mode", describe(proc)


def test_must_staple_and_staples_signed_by_the_wrong_key(bins, site, tmp_path):
    demo, server = site
    root_pem, root_key = demo / "ec-root.pem", demo / "ec-root.key"
    key = tmp_path / "ms.key"
    openssl_ok("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key)
    openssl_ok("req", "-new", "-key", key, "-subj", "/CN=must-staple.test", "-out", tmp_path / "ms.csr")
    (tmp_path / "ms.ext").write_text(f"tlsfeature=status_request\nauthorityInfoAccess=OCSP;URI:{server.url}\n")
    openssl_ok("x509", "-req", "-in", tmp_path / "ms.csr", "-CA", root_pem, "-CAkey", root_key, "-CAcreateserial",
               "-days", "30", "-extfile", tmp_path / "ms.ext", "-out", tmp_path / "ms.pem")
    ctl_ok(bins, "cert", "add", "--store", demo / "store", "--cert", tmp_path / "ms.pem")
    must = "must_staple: true\nmethod: ocsp_stapling\nfallback: ocsp\n"
    ms = ["--cert", tmp_path / "ms.pem", "--issuer", root_pem]

    # No staple: rejected by the policy, even though OCSP would say good.
    proc, none = check(bins, *ms, policy=must, tmp_path=tmp_path)
    assert proc.returncode == 1 and none["source"] == "policy" and "must-staple" in none["reason"], describe(proc)
    # A valid staple (fetched by the stapler from ocspd): accepted from the staple, no request.
    staple = tmp_path / "ms.ocsp"
    assert run([STAPLER_BIN, "--once", "--cert", tmp_path / "ms.pem", "--issuer", root_pem, "--out", staple]).returncode == 0
    proc, stapled = check(bins, *ms, "--staple", staple, policy=must, tmp_path=tmp_path)
    assert proc.returncode == 0 and stapled["source"] == "staple" and stapled["status"] == "good", describe(proc)

    # A staple signed by an impostor: rejected for the must-staple leaf; for a plain leaf the
    # checker falls back to OCSP as the policy says.
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    impostor_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name.from_rfc4514_string("CN=Impostor")
    impostor = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(impostor_key.public_key())
                .serial_number(7).not_valid_before(now - dt.timedelta(hours=1))
                .not_valid_after(now + dt.timedelta(days=1)).sign(impostor_key, hashes.SHA256()))

    def forged(cert_path: Path, status: ocsp.OCSPCertStatus) -> Path:
        revoked = status == ocsp.OCSPCertStatus.REVOKED
        der = (ocsp.OCSPResponseBuilder()
               .add_response(cert=load_cert(cert_path), issuer=load_cert(root_pem), algorithm=hashes.SHA1(),
                             cert_status=status, this_update=now, next_update=now + dt.timedelta(hours=1),
                             revocation_time=now if revoked else None, revocation_reason=None)
               .responder_id(ocsp.OCSPResponderEncoding.HASH, impostor).certificates([impostor])
               .sign(impostor_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))
        path = tmp_path / f"forged-{cert_path.stem}.der"
        path.write_bytes(der)
        return path

    proc, bad = check(bins, *ms, "--staple", forged(tmp_path / "ms.pem", ocsp.OCSPCertStatus.GOOD), policy=must,
                      tmp_path=tmp_path)
    assert proc.returncode == 1 and bad["source"] == "policy" and "does not verify" in bad["reason"], describe(proc)
    plain = demo / "leaves" / "leaf-ec-01.pem"
    proc, fell_back = check(bins, *leaf(demo, "leaf-ec-01"), "--staple", forged(plain, ocsp.OCSPCertStatus.REVOKED),
                            policy="method: ocsp_stapling\nfallback: ocsp\n", tmp_path=tmp_path)
    assert proc.returncode == 0 and fell_back["source"] == "ocsp" and fell_back["status"] == "good", describe(proc)
    assert fell_back["attempts"][0]["source"] == "staple" and "error" in fell_back["attempts"][0]


def test_a_delta_crl_published_after_the_complete_one_decides(bins, site, tmp_path):
    """ocspd's complete CRL names its delta (Freshest CRL); a revocation made after the complete
    CRL is found in the delta, which python `cryptography` also reads as a delta of that CRL."""
    demo, server = site
    target = demo / "leaves" / "leaf-ec-03.pem"
    complete_url = next(line.strip()[4:] for line in openssl_ok("x509", "-in", target, "-noout", "-ext",
                                                                "crlDistributionPoints").stdout.splitlines() if "URI:" in line)

    def fetch(url: str) -> x509.CertificateRevocationList | None:
        proc = subprocess.run(["curl", "-s", "-o", tmp_path / "fetched.crl", "-w", "%{http_code}", url],
                              capture_output=True, text=True, timeout=30)
        if proc.stdout != "200":
            return None
        return x509.load_der_x509_crl((tmp_path / "fetched.crl").read_bytes())

    complete = fetch(complete_url)
    assert complete is not None
    freshest = complete.extensions.get_extension_for_class(x509.FreshestCRL).value
    delta_url = freshest[0].full_name[0].value
    serial = load_cert(target).serial_number
    assert complete.get_revoked_certificate_by_serial_number(serial) is None

    ctl_ok(bins, "revoke", "--store", demo / "store", "--cert", target, "--reason", "superseded")
    deadline = time.monotonic() + 30  # ocspd publishes the delta once changes settle (--crl-debounce)
    while (delta := fetch(delta_url)) is None or delta.get_revoked_certificate_by_serial_number(serial) is None:
        assert time.monotonic() < deadline, f"no delta listing the revocation at {delta_url}" + server.diagnostics()
        time.sleep(0.3)
    base = delta.extensions.get_extension_for_class(x509.DeltaCRLIndicator).value.crl_number
    assert base <= complete.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert delta.is_signature_valid(load_cert(demo / "ec-root.pem").public_key())

    dead = f"http://127.0.0.1:{free_port()}/"
    policy = "method: ocsp\ncrl_fallback: true\nsoft_fail: false\ntimeout: 4s\n"
    proc, decision = check(bins, "--cert", target, "--issuer", demo / "ec-root.pem", "--url", dead, policy=policy,
                           tmp_path=tmp_path)
    assert proc.returncode == 1 and decision["source"] == "crl" and decision["status"] == "revoked", describe(proc)
    assert "superseded" in decision["reason"]
    crl_attempts = [a for a in decision["attempts"] if a["source"] == "crl"]
    assert [a["url"] for a in crl_attempts] == [complete_url, delta_url], decision
    # The complete CRL fetched now may already list it (ocspd regenerates it too); the delta says revoked.
    assert crl_attempts[1]["status"] == "revoked"


def test_a_hold_and_its_release_reach_the_checker_through_deltas(bins, site, tmp_path):
    """A hold placed after the complete CRL shows in the delta (certificateHold: refused). A new
    complete CRL then lists the hold; once released, the next delta lists it as removeFromCRL and
    the certificate is good again, though the complete CRL still holds it."""
    demo, server = site
    target = demo / "leaves" / "leaf-ec-04.pem"
    serial = load_cert(target).serial_number
    dead = f"http://127.0.0.1:{free_port()}/"
    policy = "method: ocsp\ncrl_fallback: true\ncache_ttl: 0\ntimeout: 4s\n"

    def decide() -> dict:
        return check(bins, "--cert", target, "--issuer", demo / "ec-root.pem", "--url", dead, policy=policy,
                     tmp_path=tmp_path)[1]

    def wait_for_delta(reason: x509.ReasonFlags) -> None:
        deadline = time.monotonic() + 30
        while True:
            decision = decide()
            delta = [a for a in decision["attempts"] if a["source"] == "crl"][1:]
            path = tmp_path / "delta.crl"
            if delta and subprocess.run(["curl", "-sf", "-o", path, delta[0]["url"]], timeout=30).returncode == 0:
                entry = x509.load_der_x509_crl(path.read_bytes()).get_revoked_certificate_by_serial_number(serial)
                if entry is not None and entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == reason:
                    return
            assert time.monotonic() < deadline, f"no delta with {reason} for the serial" + server.diagnostics()
            time.sleep(0.3)

    assert decide()["status"] == "good"
    ctl_ok(bins, "hold", "--store", demo / "store", "--cert", target)
    wait_for_delta(x509.ReasonFlags.certificate_hold)
    held = decide()
    assert held["decision"] == "reject" and held["source"] == "crl" and "certificateHold" in held["reason"], held

    # A new complete CRL lists the hold, so only the next delta can release it.
    ctl_ok(bins, "crl", "generate", "--store", demo / "store", "--issuer", demo / "ec-root.pem",
           "--base-url", server.url, "--out", tmp_path / "complete.crl")
    complete = x509.load_der_x509_crl((tmp_path / "complete.crl").read_bytes())
    assert complete.get_revoked_certificate_by_serial_number(serial) is not None
    ctl_ok(bins, "unhold", "--store", demo / "store", "--cert", target)
    wait_for_delta(x509.ReasonFlags.remove_from_crl)
    released = decide()
    assert released["decision"] == "accept" and released["status"] == "good" and released["source"] == "crl", released
