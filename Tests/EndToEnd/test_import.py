"""`ocspctl import` of a CA database written by `openssl ca` itself, answered by ocspd and
checked with `openssl ocsp`."""

from __future__ import annotations

from ocsp_e2e import Ocspd, ctl, ctl_ok, ctl_status_json, make_ca, openssl_ok


def test_import_of_an_openssl_ca_database(bins, tmp_path, log_dir):
    d = tmp_path
    make_ca(d, "Import Test CA", ["good", "compromised", "held"])
    openssl_ok("ca", "-config", d / "ca.cnf", "-revoke", d / "compromised.pem", "-crl_compromise", "20260101000000Z")
    openssl_ok("ca", "-config", d / "ca.cnf", "-revoke", d / "held.pem", "-crl_hold", "holdInstructionNone")

    store = d / "store"
    ctl_ok(bins, "init", "--store", store)
    ctl_ok(bins, "issuer", "add", "--store", store, "--cert", d / "ca.pem", "--key", d / "ca.key")
    out = ctl_ok(bins, "import", "--store", store, "--issuer", d / "ca.pem", "--index", d / "index.txt", "--presign")
    assert "imported 3 certificates (2 revoked)" in out.stdout, out.stdout

    assert ctl_status_json(bins, store, "--cert", d / "good.pem")["status"] == "good"
    compromised = ctl_status_json(bins, store, "--cert", d / "compromised.pem")
    assert compromised["status"] == "revoked" and compromised["reason"] == "keyCompromise"
    held = ctl_status_json(bins, store, "--cert", d / "held.pem")
    assert held["status"] == "revoked" and held["reason"] == "certificateHold"

    server = Ocspd(bins, store, log_dir)
    server.wait_ready()
    try:
        for name, expected in (("good", "good"), ("compromised", "revoked"), ("held", "revoked")):
            proc = openssl_ok("ocsp", "-issuer", d / "ca.pem", "-cert", d / f"{name}.pem", "-url", server.url,
                              "-CAfile", d / "ca.pem")
            assert "Response verify OK" in proc.stderr + proc.stdout
            assert f"{name}.pem: {expected}" in proc.stdout, proc.stdout
    finally:
        server.stop()

    # a malformed index is refused as a whole, naming the line, and writes nothing
    (d / "bad.txt").write_text("V\t361231235959Z\t\t2000\tunknown\t/CN=x\nQ\tnonsense\n")
    proc = ctl(bins, "import", "--store", store, "--issuer", d / "ca.pem", "--index", d / "bad.txt")
    assert proc.returncode != 0 and "index line 2" in proc.stderr, proc.stderr
    proc = ctl(bins, "status", "--store", store, "--issuer", d / "ca.pem", "--serial", "2000", "--json")
    assert '"unknown"' in proc.stdout
