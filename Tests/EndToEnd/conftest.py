"""Fixtures for the ocspd / ocspctl end-to-end suite.

* ``bins``   - paths of the two binaries (fails, does not skip, when missing)
* ``pki``    - a test PKI made with the openssl CLI (EC P-256 root + delegated
               OCSP responder, self-signing RSA-2048 CA, an unrelated CA, leaves)
* ``store``  - an ocspctl store holding both issuers, some leaves, revocations
* ``server`` - ocspd serving ``store`` on 127.0.0.1:<ephemeral> with --validity 7200
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ocsp_e2e import (  # noqa: E402
    LEAVES, REVOKED_TIME, RSA_REVOKED_TIME, SERVER_VALIDITY, Binaries, Ocspd, ctl_ok, load_cert,
    OPENSSL_CNF, openssl_ok, resolve_binaries, serial_hex, start_ocspd,
)


@pytest.fixture()
def demo(bins, tmp_path) -> Path:
    """A fresh demo PKI and store (`ocspctl demo`) of the test's own, which it may change.
    Files that need a shared or differently made one define their own `demo`."""
    d = tmp_path / "demo"
    ctl_ok(bins, "demo", "--dir", d, "--url", "http://127.0.0.1:9/")
    return d


@pytest.fixture()
def served(bins, demo, log_dir):
    """ocspd on the test's own `demo` store, answering for an hour (HAProxy staples a response
    only while more than 300 s remain before its nextUpdate)."""
    server = Ocspd(bins, demo / "store", log_dir, validity=3600)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@dataclass
class Pki:
    dir: Path
    paths: dict[str, Path] = field(default_factory=dict)
    _certs: dict[str, x509.Certificate] = field(default_factory=dict)

    def path(self, name: str) -> Path:
        return self.paths[name]

    def cert(self, name: str) -> x509.Certificate:
        if name not in self._certs:
            self._certs[name] = load_cert(self.paths[name])
        return self._certs[name]

    def issuer_of(self, leaf: str) -> str:
        return {"ec": "ec-root", "rsa": "rsa-ca", "other": "other-ca"}[LEAVES[leaf][0]]

    def signer_of(self, leaf: str) -> str:
        """The certificate expected to sign responses about `leaf`."""
        return {"ec": "responder", "rsa": "rsa-ca", "other": "other-ca"}[LEAVES[leaf][0]]

    def verify_args(self, leaf: str, use_vafile: bool = True) -> list[str]:
        """openssl ocsp trust arguments for responses about `leaf`."""
        kind = LEAVES[leaf][0]
        if kind == "ec":
            args = ["-CAfile", str(self.path("ec-root"))]
            if use_vafile:
                args += ["-VAfile", str(self.path("responder"))]
            return args
        if kind == "rsa":
            return ["-CAfile", str(self.path("rsa-ca"))]
        return ["-CAfile", str(self.path("other-ca"))]

    def serial_hex(self, name: str) -> str:
        return serial_hex(self.cert(name))


def _make_pki(d: Path) -> Pki:
    d.mkdir(parents=True, exist_ok=True)
    (d / "leaves").mkdir(exist_ok=True)
    cnf = d / "openssl.cnf"
    cnf.write_text(OPENSSL_CNF)
    pki = Pki(d)

    def key(name: str, kind: str) -> Path:
        p = d / f"{name}.key"
        if kind == "rsa":
            openssl_ok("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", p)
        else:
            openssl_ok("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", p)
        pki.paths[name + ".key"] = p
        return p

    def self_signed(name: str, kind: str, cn: str) -> None:
        k = key(name, kind)
        out = d / f"{name}.pem"
        openssl_ok("req", "-new", "-x509", "-config", cnf, "-extensions", "v3_ca", "-key", k,
                   "-subj", f"/O=OCSP E2E Tests/CN={cn}", "-days", "3650", "-sha256", "-out", out)
        pki.paths[name] = out

    def issued(name: str, out: Path, k: Path, ca: str, ext: str, cn: str, serial: str | None) -> None:
        csr = d / f"{name}.csr"
        openssl_ok("req", "-new", "-config", cnf, "-key", k, "-subj", f"/O=OCSP E2E Tests/CN={cn}",
                   "-out", csr)
        args = ["x509", "-req", "-in", csr, "-CA", pki.path(ca), "-CAkey", pki.path(ca + ".key"),
                "-days", "825", "-sha256", "-extfile", cnf, "-extensions", ext, "-out", out]
        if serial is not None:
            args += ["-set_serial", "0x" + serial]
        openssl_ok(*args)
        pki.paths[name] = out

    self_signed("ec-root", "ec", "E2E EC Root")
    self_signed("rsa-ca", "rsa", "E2E RSA CA")
    self_signed("other-ca", "ec", "E2E Unrelated CA")
    issued("responder", d / "responder.pem", key("responder", "ec"), "ec-root", "v3_responder",
           "E2E EC OCSP Responder", None)
    # a key that matches none of the certificates
    key("stray", "ec")

    leaf_keys = {"ec": key("leaf-ec", "ec"), "rsa": key("leaf-rsa", "rsa"), "other": d / "leaf-ec.key"}
    ca_of = {"ec": "ec-root", "rsa": "rsa-ca", "other": "other-ca"}
    for name, (kind, serial) in LEAVES.items():
        issued(name, d / "leaves" / f"{name}.pem", leaf_keys[kind], ca_of[kind], "v3_leaf",
               f"{name}.e2e.test", serial)
    return pki


@pytest.fixture(scope="session")
def bins() -> Binaries:
    return resolve_binaries()


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> Pki:
    return _make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("logs")


def populate_store(bins: Binaries, pki: Pki, store: Path) -> None:
    """The session store; see EXPECTED for the resulting statuses."""
    p = pki.path
    ctl_ok(bins, "init", "--store", store)
    # EC root: delegated responder
    ctl_ok(bins, "issuer", "add", "--store", store, "--cert", p("ec-root"),
           "--responder-cert", p("responder"), "--responder-key", p("responder.key"))
    # RSA CA signs its own responses
    ctl_ok(bins, "issuer", "add", "--store", store, "--cert", p("rsa-ca"), "--key", p("rsa-ca.key"))

    for leaf in ("ec-good", "ec-revoked", "ec-revoked-noreason", "ec-live",
                 "rsa-good", "rsa-unspecified", "rsa-live"):
        ctl_ok(bins, "cert", "add", "--store", store, "--cert", p(leaf))
    ctl_ok(bins, "cert", "add", "--store", store, "--issuer", p("ec-root"),
           "--serial", pki.serial_hex("ec-good-serial"))
    ctl_ok(bins, "cert", "add", "--store", store, "--issuer", p("rsa-ca"), "--serial", "0F")
    ctl_ok(bins, "cert", "add", "--store", store, "--issuer", p("rsa-ca"), "--serial", "1001")

    ctl_ok(bins, "revoke", "--store", store, "--cert", p("ec-revoked"),
           "--reason", "keyCompromise", "--time", REVOKED_TIME)
    ctl_ok(bins, "revoke", "--store", store, "--cert", p("ec-revoked-noreason"))
    ctl_ok(bins, "revoke", "--store", store, "--issuer", p("rsa-ca"), "--serial", "1001",
           "--reason", "superseded", "--time", RSA_REVOKED_TIME)
    ctl_ok(bins, "revoke", "--store", store, "--cert", p("rsa-unspecified"), "--reason", "unspecified")


@pytest.fixture(scope="session")
def store(bins, pki, tmp_path_factory) -> Path:
    s = tmp_path_factory.mktemp("stores") / "main-store"
    populate_store(bins, pki, s)
    return s


@pytest.fixture(scope="session")
def server(bins, store, log_dir):
    d = start_ocspd(bins, store, log_dir, validity=SERVER_VALIDITY)
    try:
        yield d
    finally:
        d.stop()
