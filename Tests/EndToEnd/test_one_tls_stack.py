"""One TLS stack (issue 33): the main package links the system's OpenSSL (patched with apt) and
libpq, and no vendored BoringSSL. Checked on the binaries of the main package's own build: the
dependency graph, their symbols (`nm`), and the libraries a running ocspd has mapped."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from ocsp_e2e import REPO_ROOT, STAPLER_BIN, Ocspd, describe

# Vendored TLS packages that must stay out of the main package (the NIOSSL integration has them,
# in its own package under Integrations/NIOSSL).
FORBIDDEN_PACKAGES = {"swift-nio-ssl", "swift-crypto", "swift-certificates", "postgres-nio", "async-http-client", "swift-asn1"}
# BoringSSL's symbols as swift-crypto and swift-nio-ssl vendor it (prefixed), and its own names.
BORINGSSL_SYMBOL = re.compile(r"CCryptoBoringSSL_|CNIOBoringSSL_|\bBORINGSSL_|boringssl", re.IGNORECASE)


def package_identities(node: dict) -> set[str]:
    found = set()
    for dependency in node.get("dependencies", []):
        found.add(dependency["identity"])
        found |= package_identities(dependency)
    return found


def test_the_main_packages_graph_has_no_vendored_tls():
    proc = subprocess.run(["swift", "package", "show-dependencies", "--format", "json"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, describe(proc)
    graph = json.loads(proc.stdout[proc.stdout.index("{"):])
    identities = package_identities(graph)
    assert "swift-argument-parser" in identities  # the graph was read
    assert not identities & FORBIDDEN_PACKAGES, f"the main package depends on {sorted(identities & FORBIDDEN_PACKAGES)}"


def test_no_boringssl_in_the_binaries_and_a_running_ocspd_maps_the_systems_openssl_and_libpq(bins, demo, log_dir):
    assert shutil.which("nm"), "nm (binutils) is needed"
    for binary in (bins.ocspd, bins.ocspctl, STAPLER_BIN):
        symbols = subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True, timeout=120)
        assert symbols.returncode == 0, describe(symbols)
        assert len(symbols.stdout.splitlines()) > 1000, f"{binary}: nm read no symbol table"
        vendored = [line for line in symbols.stdout.splitlines() if BORINGSSL_SYMBOL.search(line)]
        assert not vendored, f"{binary} links BoringSSL: {vendored[:5]}"
        # It calls the system's OpenSSL instead (undefined here, resolved from libcrypto.so.3).
        undefined = subprocess.run(["nm", "--undefined-only", binary], capture_output=True, text=True, timeout=120).stdout
        assert "EVP_DigestSign" in undefined or "EVP_Digest" in undefined, f"{binary} does not call the system's OpenSSL"
    server = Ocspd(bins, demo / "store", log_dir)
    try:
        server.wait_ready()
        maps = Path(f"/proc/{server.proc.pid}/maps").read_text()
        libraries = {Path(line.split()[-1]).name for line in maps.splitlines() if ".so" in line}
        assert any(name.startswith("libssl.so.3") for name in libraries), sorted(libraries)
        assert any(name.startswith("libcrypto.so.3") for name in libraries), sorted(libraries)
        assert any(name.startswith("libpq.so.5") for name in libraries), sorted(libraries)
        # libpq itself uses the same libssl: one TLS stack in the process.
        assert len([name for name in libraries if name.startswith("libssl.so")]) == 1, sorted(libraries)
    finally:
        server.stop()
