"""Signing keys in a PKCS#11 token (SoftHSM2), checked by peers: `openssl ocsp` and `openssl crl`
verify what ocspd and ocspctl sign through the token, presigned and live; start-up errors are one
line and write nothing; a token lost or slow while ocspd runs costs only tryLater for what needs a
signature, and ocspd recovers without a restart. No private key is ever in a file.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import shutil
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from ocsp_e2e import OPENSSL_CNF, Binaries, Ocspd, ctl, ctl_ok, describe, run, run_ok, snapshot_tree
from slow_pkcs11 import build_slow_module, set_delay

SOFTHSM = Path("/usr/lib/softhsm/libsofthsm2.so")
PIN = "1234"


GOOD_SERIAL = "1001"
REVOKED_SERIAL = "1002"
LIVE_SERIAL = "1003"


@dataclass
class Token:
    dir: Path
    tokens: Path
    pin_file: Path
    module: Path

    def uri(self, label: str, module: Path | None = None, pin_file: Path | None = None) -> str:
        return (f"pkcs11:token=ocsp;object={label};type=private"
                f"?module-path={module or self.module}&pin-source=file:{pin_file or self.pin_file}")

    def engine_key(self, label: str) -> str:
        """The key as `openssl -engine pkcs11 -keyform engine` takes it (test set-up only)."""
        return f"pkcs11:token=ocsp;object={label};type=private;pin-value={PIN}"


def _have_softhsm() -> bool:
    return SOFTHSM.exists() and shutil.which("softhsm2-util") and shutil.which("pkcs11-tool")


pytestmark = pytest.mark.skipif(
    not _have_softhsm() and not os.environ.get("CI"),
    reason="SoftHSM2 / opensc not installed (make test installs them)")


@pytest.fixture()
def token(tmp_path, monkeypatch) -> Token:
    """A SoftHSM2 token of the test's own, with EC and RSA keys generated in it."""
    assert _have_softhsm(), "softhsm2 and opensc must be installed (see .ci/run)"
    d = tmp_path / "hsm"
    tokens = d / "tokens"
    tokens.mkdir(parents=True)
    conf = d / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    monkeypatch.setenv("SOFTHSM2_CONF", str(conf))
    # openssl's engine (test set-up only: self-signing the CA, CSRs) finds the module here.
    monkeypatch.setenv("PKCS11_MODULE_PATH", str(SOFTHSM))
    monkeypatch.delenv("OCSP_PKCS11_PIN", raising=False)
    run_ok(["softhsm2-util", "--init-token", "--free", "--label", "ocsp", "--pin", PIN, "--so-pin", "5678"])
    for label, key_type, key_id in [("ca-ec", "EC:prime256v1", "01"), ("ca-rsa", "RSA:2048", "02"),
                                    ("responder-ec", "EC:prime256v1", "03")]:
        run_ok(["pkcs11-tool", "--module", SOFTHSM, "--login", "--pin", PIN, "--keypairgen",
                "--key-type", key_type, "--label", label, "--id", key_id])
    pin_file = d / "pin"
    pin_file.write_text(PIN + "\n")
    pin_file.chmod(0o600)
    return Token(dir=d, tokens=tokens, pin_file=pin_file, module=SOFTHSM)


def _openssl_engine(*args: str) -> None:
    run_ok(["openssl", *args, "-engine", "pkcs11"])


def make_token_ca(token: Token, label: str, subject: str) -> Path:
    """A self-signed CA whose key is the token's `label` (signed through openssl's engine)."""
    ext = token.dir / "ext.cnf"
    ext.write_text(OPENSSL_CNF)
    out = token.dir / f"{label}.pem"
    run_ok(["openssl", "req", "-x509", "-new", "-engine", "pkcs11", "-keyform", "engine",
            "-key", token.engine_key(label), "-subj", subject, "-days", "30",
            "-config", ext, "-extensions", "v3_ca", "-out", out])
    return out


def make_token_responder(token: Token, ca: Path, ca_label: str, label: str) -> Path:
    """A delegated responder certificate for the token key `label`, issued by the token CA."""
    ext = token.dir / "ext.cnf"
    ext.write_text(OPENSSL_CNF)
    csr = token.dir / f"{label}.csr"
    out = token.dir / f"{label}.pem"
    run_ok(["openssl", "req", "-new", "-engine", "pkcs11", "-keyform", "engine", "-key", token.engine_key(label),
            "-subj", f"/CN=HSM responder {label}", "-config", ext, "-out", csr])
    run_ok(["openssl", "x509", "-req", "-in", csr, "-engine", "pkcs11", "-CAkeyform", "engine",
            "-CA", ca, "-CAkey", token.engine_key(ca_label), "-set_serial", "0x51", "-days", "30",
            "-extfile", ext, "-extensions", "v3_responder", "-out", out])
    return out


def openssl_ocsp(port: int, issuer: Path, serial: str, ca_file: Path, nonce: bool,
                 verify_other: Path | None = None) -> subprocess.CompletedProcess:
    args = ["openssl", "ocsp", "-issuer", issuer, "-serial", f"0x{serial}", "-url", f"http://127.0.0.1:{port}/",
            "-CAfile", ca_file, "-timeout", "10"]
    if not nonce:
        args.append("-no_nonce")
    return run(args)


def assert_status(proc: subprocess.CompletedProcess, serial: str, status: str) -> None:
    assert proc.returncode == 0, describe(proc)
    assert "Response verify OK" in proc.stderr + proc.stdout, describe(proc)
    assert re.search(rf"0x{serial}: {status}", proc.stdout, re.IGNORECASE), describe(proc)


def assert_no_key_files(*roots: Path) -> None:
    """No private key in any file under `roots` (the store, the config, the token's neighbours)."""
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and b"PRIVATE KEY" in path.read_bytes():
                pytest.fail(f"{path} holds a private key")


def http_get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"not within {timeout}s: {what}")


def token_store(bins: Binaries, token: Token, root: Path) -> tuple[Path, Path, Path]:
    """A store with two issuers whose keys are all in the token: an EC CA and an RSA CA, each
    signing its own responses and CRLs. Returns (store, EC CA, RSA CA)."""
    store = root / "store"
    ctl_ok(bins, "init", "--store", store)
    ec_ca = make_token_ca(token, "ca-ec", "/CN=HSM EC CA")
    rsa_ca = make_token_ca(token, "ca-rsa", "/CN=HSM RSA CA")
    ctl_ok(bins, "issuer", "add", "--store", store, "--cert", ec_ca, "--key", token.uri("ca-ec"))
    ctl_ok(bins, "issuer", "add", "--store", store, "--cert", rsa_ca, "--key", token.uri("ca-rsa"))
    for ca in (ec_ca, rsa_ca):
        for serial in (GOOD_SERIAL, REVOKED_SERIAL, LIVE_SERIAL):
            ctl_ok(bins, "cert", "add", "--store", store, "--issuer", ca, "--serial", serial)
        ctl_ok(bins, "revoke", "--store", store, "--issuer", ca, "--serial", REVOKED_SERIAL, "--reason", "keyCompromise")
    return store, ec_ca, rsa_ca


def test_token_keys_sign_presigned_and_live_responses_and_crls(bins, token, tmp_path, log_dir):
    store, ec_ca, rsa_ca = token_store(bins, token, tmp_path)
    out = ctl_ok(bins, "presign", "--store", store)
    assert re.search(r"signed \d+ responses", out.stdout + out.stderr), describe(out)

    # CRLs signed through the token: openssl verifies them against the CA.
    for ca, name in [(ec_ca, "ec"), (rsa_ca, "rsa")]:
        crl = tmp_path / f"{name}.crl"
        ctl_ok(bins, "crl", "generate", "--store", store, "--issuer", ca, "--out", crl, "--format", "pem")
        proc = run(["openssl", "crl", "-in", crl, "-CAfile", ca, "-noout", "-text"])
        assert proc.returncode == 0 and "verify OK" in proc.stderr + proc.stdout, describe(proc)
        assert f"Serial Number: {REVOKED_SERIAL}" in proc.stdout, describe(proc)

    server = Ocspd(bins, store, log_dir)
    try:
        port = server.wait_ready()
        for ca in (ec_ca, rsa_ca):
            assert_status(openssl_ocsp(port, ca, GOOD_SERIAL, ca, nonce=False), GOOD_SERIAL, "good")  # presigned
            assert_status(openssl_ocsp(port, ca, GOOD_SERIAL, ca, nonce=True), GOOD_SERIAL, "good")  # live, nonce
            assert_status(openssl_ocsp(port, ca, REVOKED_SERIAL, ca, nonce=True), REVOKED_SERIAL, "revoked")
            assert_status(openssl_ocsp(port, ca, "7777", ca, nonce=False), "7777", "unknown")  # a miss, signed live
        # A revocation while ocspd runs: ocspctl signs through the token too, and the next answer is revoked.
        ctl_ok(bins, "revoke", "--store", store, "--issuer", ec_ca, "--serial", LIVE_SERIAL)
        assert_status(openssl_ocsp(port, ec_ca, LIVE_SERIAL, ec_ca, nonce=False), LIVE_SERIAL, "revoked")

        # A delegated responder whose key is in the token too (issuer set-responder with a URI).
        responder = make_token_responder(token, ec_ca, "ca-ec", "responder-ec")
        ctl_ok(bins, "issuer", "set-responder", "--store", store, "--issuer", ec_ca,
               "--responder-cert", responder, "--responder-key", token.uri("responder-ec"))
        ctl_ok(bins, "presign", "--store", store, "--issuer", ec_ca)
        def signed_by_responder(nonce: bool) -> bool:
            proc = run(["openssl", "ocsp", "-issuer", ec_ca, "-serial", f"0x{GOOD_SERIAL}",
                        "-url", f"http://127.0.0.1:{port}/", "-CAfile", ec_ca, "-resp_text"]
                       + ([] if nonce else ["-no_nonce"]))
            assert_status(proc, GOOD_SERIAL, "good")
            return re.search(r"Subject: CN ?= ?HSM responder responder-ec", proc.stdout) is not None
        assert signed_by_responder(nonce=False), "the presigned response is not the delegated responder's"
        # ocspd follows the rotation through the store's change feed, within a second or so.
        wait_for(lambda: signed_by_responder(nonce=True), 10, "live responses signed by the token responder")
    finally:
        exit_status = server.stop()
    # SIGTERM with token keys loaded (and, after a loss, keys of an older module state kept): a
    # clean exit, not a signal at OpenSSL's or SoftHSM's clean-up.
    assert exit_status == 0, server.diagnostics()
    assert_no_key_files(tmp_path)


def test_bad_token_references_fail_in_one_line_and_write_nothing(bins, token, tmp_path, log_dir, monkeypatch):
    store = tmp_path / "store"
    ctl_ok(bins, "init", "--store", store)
    ca = make_token_ca(token, "ca-ec", "/CN=HSM EC CA")
    wrong_pin = token.dir / "wrong-pin"
    wrong_pin.write_text("9999")
    cases = {
        "wrong PIN": (token.uri("ca-ec", pin_file=wrong_pin), "refused the PIN"),
        "missing object": (token.uri("no-such-key"), "no private key"),
        "missing token": (token.uri("ca-ec").replace("token=ocsp", "token=absent"), "no private key"),
        "missing module": (token.uri("ca-ec", module=Path("/usr/lib/no-such-pkcs11.so")), "does not exist"),
        "not a module": (token.uri("ca-ec", module=Path("/etc/hostname")), "cannot load PKCS#11 module"),
        "PIN in the URI": (token.uri("ca-ec") + "&pin-value=1234", "pin-value"),
    }
    before = snapshot_tree(store)
    for what, (uri, message) in cases.items():
        proc = ctl(bins, "issuer", "add", "--store", store, "--cert", ca, "--key", uri)
        assert proc.returncode == 1, f"{what}: " + describe(proc)  # an exit status, not a signal
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], f"{what}: " + describe(proc)
        assert PIN not in proc.stderr and "9999" not in proc.stderr, f"{what}: the PIN was printed"
    assert snapshot_tree(store) == before, "a failed issuer add changed the store"

    # ocspd: a PIN the token refuses, or a module that does not exist, is fatal at start (retrying
    # a wrong PIN would lock a real token), in one line.
    monkeypatch.setenv("OCSP_PKCS11_PIN", PIN)
    ctl_ok(bins, "issuer", "add", "--store", store, "--cert", ca, "--key", "pkcs11:token=ocsp;object=ca-ec",
           "--pkcs11-module", token.module)
    monkeypatch.setenv("OCSP_PKCS11_PIN", "9999")
    for what, extra, message in [("wrong PIN", ["--pkcs11-module", str(token.module)], "refused the PIN"),
                                 ("missing module", ["--pkcs11-module", "/usr/lib/no-such-pkcs11.so"], "does not exist")]:
        proc = run([bins.ocspd, "--store", store, "--listen", "127.0.0.1:0", "--log-format", "text", *extra], timeout=30)
        assert proc.returncode == 1, f"{what}: " + describe(proc)
        errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and message in errors[0], f"{what}: " + describe(proc)
        assert "9999" not in proc.stderr

    # A token that is not there (yet): ocspd starts, says so, and is not ready.
    (token.dir / "no-tokens").mkdir()
    empty = token.dir / "empty.conf"
    empty.write_text(f"directories.tokendir = {token.dir / 'no-tokens'}\nobjectstore.backend = file\n")
    monkeypatch.setenv("SOFTHSM2_CONF", str(empty))
    monkeypatch.setenv("OCSP_PKCS11_PIN", PIN)
    server = Ocspd(bins, store, log_dir, extra=["--pkcs11-module", str(token.module), "--log-format", "text"])
    try:
        port = server.wait_ready()
        status, body = http_get(port, "/readyz")
        assert status == 503 and b"cannot sign" in body, body
        assert "no private key" in server.stderr_text(), server.diagnostics()
    finally:
        server.stop()


def test_token_lost_while_running_serves_cached_and_recovers_without_restart(bins, token, tmp_path, log_dir):
    store, ec_ca, _ = token_store(bins, token, tmp_path)
    ctl_ok(bins, "presign", "--store", store)
    server = Ocspd(bins, store, log_dir, extra=["--log-format", "text"])
    try:
        port = server.wait_ready()
        assert_status(openssl_ocsp(port, ec_ca, GOOD_SERIAL, ec_ca, nonce=True), GOOD_SERIAL, "good")

        # The token goes away (SoftHSM finds no token files: as an HSM that restarted or was unplugged).
        away = token.dir / "tokens-away"
        token.tokens.rename(away)
        token.tokens.mkdir()
        try:
            for _ in range(3):
                assert_status(openssl_ocsp(port, ec_ca, GOOD_SERIAL, ec_ca, nonce=False), GOOD_SERIAL, "good")
                assert_status(openssl_ocsp(port, ec_ca, REVOKED_SERIAL, ec_ca, nonce=False), REVOKED_SERIAL, "revoked")
                for serial, nonce in [(GOOD_SERIAL, True), ("7778", False)]:  # a nonce, a miss
                    proc = openssl_ocsp(port, ec_ca, serial, ec_ca, nonce=nonce)
                    assert "trylater" in (proc.stdout + proc.stderr).lower(), describe(proc)
            status, body = http_get(port, "/readyz")
            assert status == 503 and b"PKCS#11" in body, body
            _, metrics = http_get(port, "/metrics")
            assert re.search(rb'ocsp_pkcs11_token_up\{module="[^"]+"\} 0', metrics), metrics
            assert "PKCS#11 token cannot sign" in server.stderr_text(), server.diagnostics()
        finally:
            token.tokens.rmdir()
            away.rename(token.tokens)

        # Back: within a few retry intervals it signs again, with no restart.
        def signs() -> bool:
            proc = openssl_ocsp(port, ec_ca, GOOD_SERIAL, ec_ca, nonce=True)
            return proc.returncode == 0 and "Response verify OK" in proc.stderr + proc.stdout and ": good" in proc.stdout
        wait_for(signs, 15, "ocspd signs through the returned token")
        assert_status(openssl_ocsp(port, ec_ca, "7779", ec_ca, nonce=False), "7779", "unknown")
        wait_for(lambda: http_get(port, "/readyz")[0] == 200, 10, "/readyz is 200 again")
        _, metrics = http_get(port, "/metrics")
        reopens = re.search(rb'ocsp_pkcs11_reopens_total\{module="[^"]+"\} (\d+)', metrics)
        assert reopens and int(reopens.group(1)) >= 1, metrics
        assert "PKCS#11 token signs again" in server.stderr_text(), server.diagnostics()
        assert server.proc.poll() is None
    finally:
        exit_status = server.stop()
    # SIGTERM with token keys loaded (and, after a loss, keys of an older module state kept): a
    # clean exit, not a signal at OpenSSL's or SoftHSM's clean-up.
    assert exit_status == 0, server.diagnostics()
    assert_no_key_files(tmp_path)


def test_slow_token_bounded_queue_and_timeout_keep_cached_answers_flowing(bins, token, tmp_path, log_dir, monkeypatch):
    slow = build_slow_module(tmp_path / "slow")
    control = tmp_path / "slow" / "delay-ms"
    set_delay(control, 0)
    monkeypatch.setenv("SLOWPKCS11_MODULE", str(SOFTHSM))
    monkeypatch.setenv("SLOWPKCS11_CONTROL", str(control))
    store = tmp_path / "store"
    ctl_ok(bins, "init", "--store", store)
    ca = make_token_ca(token, "ca-ec", "/CN=HSM EC CA")
    ctl_ok(bins, "issuer", "add", "--store", store, "--cert", ca, "--key", token.uri("ca-ec", module=slow))
    ctl_ok(bins, "cert", "add", "--store", store, "--issuer", ca, "--serial", GOOD_SERIAL)
    server = Ocspd(bins, store, log_dir, extra=[
        "--threads", "4", "--pkcs11-concurrency", "1", "--pkcs11-queue", "2", "--pkcs11-timeout", "0.5s",
        "--pkcs11-retry-interval", "1s", "--log-format", "text"])
    try:
        port = server.wait_ready()
        assert_status(openssl_ocsp(port, ca, GOOD_SERIAL, ca, nonce=False), GOOD_SERIAL, "good")

        set_delay(control, 3000)  # each signature now takes 3 s in the token
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
            nonces = [pool.submit(openssl_ocsp, port, ca, GOOD_SERIAL, ca, True) for _ in range(6)]
            time.sleep(0.3)
            cached = [openssl_ocsp(port, ca, GOOD_SERIAL, ca, nonce=False) for _ in range(3)]
            results = [f.result() for f in nonces]
        elapsed = time.monotonic() - started
        for proc in cached:  # cached answers keep flowing while the token is slow
            assert_status(proc, GOOD_SERIAL, "good")
        outcomes = ["trylater" if "trylater" in (p.stdout + p.stderr).lower() else
                    "good" if p.returncode == 0 and ": good" in p.stdout else "other" for p in results]
        assert "other" not in outcomes, [describe(p) for p in results]
        # One signature got into the token (3 s); the rest waited at most 0.5 s or were turned away.
        assert outcomes.count("trylater") >= 4, outcomes
        assert elapsed < 8, f"requests waited {elapsed:.1f}s on a slow token"
        _, metrics = http_get(port, "/metrics")
        refused = re.search(rb'ocsp_pkcs11_refused_signatures_total\{module="[^"]+"\} (\d+)', metrics)
        assert refused and int(refused.group(1)) >= 1, metrics
        assert "the PKCS#11 token is slow" in server.stderr_text(), server.diagnostics()

        set_delay(control, 0)
        def signs() -> bool:
            proc = openssl_ocsp(port, ca, GOOD_SERIAL, ca, nonce=True)
            return proc.returncode == 0 and ": good" in proc.stdout
        wait_for(signs, 15, "ocspd signs again once the token is fast")
    finally:
        server.stop()
