"""`ocspctl demo`: the generated PKI, idempotence, and ocspd serving its store."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from ocsp_e2e import (
    assert_openssl_status, ctl_ok, ctl_status_json, load_cert, openssl, start_ocspd,
)

EC_LEAVES = [f"leaf-ec-{i:02d}" for i in range(1, 9)]
RSA_LEAVES = [f"leaf-rsa-{i:02d}" for i in range(1, 5)]
TOP_FILES = ["ec-root.pem", "ec-root.key", "responder.pem", "responder.key", "rsa-ca.pem", "rsa-ca.key"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pem_files(root: Path) -> dict[str, tuple[int, str]]:
    """rel path -> (mtime_ns, sha256) of everything outside the store."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if p.is_file() and rel.parts[0] != "store":
            out[str(rel)] = (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
    return out


@pytest.fixture(scope="module")
def demo(bins, tmp_path_factory):
    d = tmp_path_factory.mktemp("demo") / "demo-dir"   # does not exist yet
    url = f"http://127.0.0.1:{_free_port()}/"
    ctl_ok(bins, "demo", "--dir", d, "--url", url)
    first = _pem_files(d)
    status_first = {leaf: ctl_status_json(bins, d / "store", "--cert", d / "leaves" / f"{leaf}.pem")
                    for leaf in ("leaf-ec-01", "leaf-ec-02", "leaf-rsa-01")}
    rerun = ctl_ok(bins, "demo", "--dir", d, "--url", url)
    return dict(dir=d, url=url, first=first, status_first=status_first, rerun=rerun)


@pytest.fixture(scope="module")
def demo_server(bins, demo, log_dir):
    srv = start_ocspd(bins, demo["dir"] / "store", log_dir)
    try:
        yield srv
    finally:
        srv.stop()


def test_demo_files_exist(demo):
    d = demo["dir"]
    missing = [f for f in TOP_FILES if not (d / f).is_file()]
    missing += [f"leaves/{n}.pem" for n in EC_LEAVES + RSA_LEAVES if not (d / "leaves" / f"{n}.pem").is_file()]
    assert not missing, f"demo did not create {missing}"
    assert (d / "store").exists()


def test_demo_pki_shape(demo):
    d = demo["dir"]
    root, resp, rsa_ca = load_cert(d / "ec-root.pem"), load_cert(d / "responder.pem"), load_cert(d / "rsa-ca.pem")

    assert isinstance(root.public_key(), ec.EllipticCurvePublicKey)
    assert root.public_key().curve.name == "secp256r1"
    assert root.subject == root.issuer
    root.verify_directly_issued_by(root)
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca

    assert isinstance(rsa_ca.public_key(), rsa.RSAPublicKey) and rsa_ca.public_key().key_size == 2048
    rsa_ca.verify_directly_issued_by(rsa_ca)
    assert rsa_ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca

    resp.verify_directly_issued_by(root)
    eku = resp.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.OCSP_SIGNING in eku
    resp.extensions.get_extension_for_class(x509.OCSPNoCheck)  # raises if absent

    for name, cert_file, key_file in [("ec-root", "ec-root.pem", "ec-root.key"),
                                      ("responder", "responder.pem", "responder.key"),
                                      ("rsa-ca", "rsa-ca.pem", "rsa-ca.key")]:
        key = serialization.load_pem_private_key((d / key_file).read_bytes(), password=None)
        pub = load_cert(d / cert_file).public_key()
        assert key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == \
            pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo), \
            f"{key_file} does not match {cert_file}"


def test_demo_leaves(demo):
    d = demo["dir"]
    root, rsa_ca = load_cert(d / "ec-root.pem"), load_cert(d / "rsa-ca.pem")
    serials = set()
    for names, issuer in ((EC_LEAVES, root), (RSA_LEAVES, rsa_ca)):
        for n in names:
            leaf = load_cert(d / "leaves" / f"{n}.pem")
            leaf.verify_directly_issued_by(issuer)
            serials.add((leaf.issuer.rfc4514_string(), leaf.serial_number))
            aia = leaf.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
            urls = [a.access_location.value for a in aia
                    if a.access_method == AuthorityInformationAccessOID.OCSP]
            assert urls == [demo["url"]], f"{n}: AIA OCSP {urls} != [{demo['url']}]"
    assert len(serials) == len(EC_LEAVES) + len(RSA_LEAVES), "leaf serials are not unique per issuer"


def test_demo_rerun_does_not_recreate(bins, demo):
    d = demo["dir"]
    assert _pem_files(d) == demo["first"], "second `ocspctl demo` rewrote certificates or keys"
    for leaf, before in demo["status_first"].items():
        after = ctl_status_json(bins, d / "store", "--cert", d / "leaves" / f"{leaf}.pem")
        assert after == before, f"store changed by the second demo run for {leaf}"
    assert demo["status_first"]["leaf-ec-02"]["status"] == "revoked"
    assert demo["status_first"]["leaf-ec-02"].get("reason") == "keyCompromise"
    assert demo["status_first"]["leaf-ec-01"]["status"] == "good"
    assert demo["status_first"]["leaf-rsa-01"]["status"] == "good"


@pytest.mark.parametrize("leaf,status,reason", [
    ("leaf-ec-01", "good", None),
    ("leaf-ec-02", "revoked", "keyCompromise"),
    ("leaf-rsa-01", "good", None),
])
def test_demo_served_by_ocspd(demo, demo_server, leaf, status, reason):
    d = demo["dir"]
    cert = str(d / "leaves" / f"{leaf}.pem")
    if "-ec-" in leaf:
        trust = ["-issuer", d / "ec-root.pem", "-CAfile", d / "ec-root.pem", "-VAfile", d / "responder.pem"]
    else:
        trust = ["-issuer", d / "rsa-ca.pem", "-CAfile", d / "rsa-ca.pem"]
    proc = openssl("ocsp", *trust, "-cert", cert, "-url", demo_server.url, "-timeout", "10")
    assert_openssl_status(proc, cert, status, reason=reason)
