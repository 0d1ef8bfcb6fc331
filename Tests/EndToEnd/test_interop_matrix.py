"""The interop matrix: every OCSP source against every consumer, a good and a revoked leaf in each
cell, each read back by the real consumer; the matrix is printed in pytest's terminal summary at
the end of the run (also with -q) and written to <log_dir>/interop-matrix.txt.

Sources, each with a small PKI of its own made with the openssl CLI at run time (peers.py):
  ocspd-root          ocspd; a self-signed RSA root signs its own responses and issues the leaves.
                      TLS servers send the leaf alone (the usual private-PKI layout).
  ocspd-intermediate  ocspd; root -> issuing CA -> leaf, the CA signs its own responses.
  ocspd-delegated     ocspd; root -> issuing CA -> leaf, a delegated responder of the CA signs.
  openssl-ocsp        `openssl ocsp -index` (an `openssl ca` index.txt), delegated responder; it
                      listens on every address, so it and everything of its cells runs in a
                      network namespace of the test's own.
  cfssl               `cfssl ocspserve`, answers pre-signed by `cfssl ocspsign` (delegated).
  With an issuing CA the servers send leaf + CA.

Consumers:
  nginx-file     `ocsp-stapler --once` writes the staple, nginx serves it (ssl_stapling_file)
  haproxy-file   the same file as `<crt>.ocsp`, loaded by HAProxy at start
  haproxy-api    `ocsp-stapler --once --haproxy-socket`: `set ssl ocsp-response`, no reload
                 (HAProxy had an empty `.ocsp`, so it staples nothing until then)
  nginx-fetch    nginx `ssl_stapling on; ssl_stapling_verify on; ssl_stapling_responder URL`
  ocspctl-check  `ocspctl check --cert --issuer --url --json --policy`
  The four TLS consumers are read with `openssl s_client -status` (Cert Status) and `curl
  --cert-status` (which verifies the staple: good -> exit 0; revoked -> exit 91, the right answer).

nginx (ssl_stapling_file) and HAProxy (`.ocsp` file and runtime API) serve a revoked staple as
they serve a good one: s_client shows "Cert Status: revoked", curl refuses the connection (exit 91,
"SSL certificate revocation reason: keyCompromise (1)").

A cell that cannot work asserts what the consumer does instead, and says why in the matrix:
  * nginx fetch mode never staples a revoked answer (it logs it; curl then gets no staple);
  * nginx fetch mode asks by GET only, and Debian's CFSSL answers every GET with 400;
  * curl 7.88 takes the leaf's issuer from the served chain only: with the root not sent
    (ocspd-root) it stops at "Error computing OCSP ID", after the staple verified.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import pytest

from ocsp_e2e import STAPLER_BIN, Binaries, Ocspd, ctl_ok, describe
from peers import (
    CURL_INVALID_CERT_STATUS, CURL_NO_CERTID, CURL_NO_STAPLE, CURL_REVOKED, CURL_UNVERIFIED, LEAF_STATUS,
    CfsslResponder, MultiHAProxy, Netns, OpensslResponder, SmallPki, cfssl_get_refused_line, curl_cert_status,
    make_small_pki,
)
from test_haproxy import NO_STAPLE, assert_staple
from test_nginx_fetch_mode import REVOKED_LOG, server_body
from test_revocation_check import check
from test_stapler import staple
from tls_servers import Nginx, free_port, haproxy_crt, s_client_status

# HAProxy staples a response only while more than 300 s remain before its nextUpdate.
VALIDITY = 3600
FETCH_TIMEOUT = 30  # nginx fetches lazily; a loaded 2-core machine
STAPLER_EXIT = {"good": 0, "revoked": 3}
POLICY = "method: ocsp\nsoft_fail: false\ntimeout: 10s\n"

SOURCES = {
    "ocspd-root": "ocspd; self-signed RSA root signing its own responses; servers send the leaf alone",
    "ocspd-intermediate": "ocspd; issuing CA (root -> CA -> leaf) signing its own; servers send leaf + CA",
    "ocspd-delegated": "ocspd; delegated responder (EKU OCSPSigning) of the issuing CA; leaf + CA",
    "openssl-ocsp": "openssl ocsp -index, delegated responder, in a network namespace; leaf + CA",
    "cfssl": "cfssl ocspserve, responses from cfssl ocspsign, delegated responder; leaf + CA",
}
CONSUMERS = ("nginx-file", "haproxy-file", "haproxy-api", "nginx-fetch", "ocspctl-check")
NOTES = {
    "curl-root": "curl 7.88 computes the CertID from an issuer in the served chain only; the root is not "
                 "sent, so it stops at 'Error computing OCSP ID' (after OCSP_basic_verify passed); "
                 "s_client reads the status",
    "nginx-revoked": "nginx fetch mode never staples a revoked answer: it logs 'certificate status \"revoked\" "
                     "in the OCSP response' and sends no staple (curl: 'No OCSP response received')",
    "nginx-get": "nginx fetch mode asks by GET only; Debian's cfssl ocspserve answers every GET with 400 "
                 "(its log: 'Error decoding base64 from URL: /...'); nginx logs nothing, staples nothing "
                 "and asks again 5 min later",
}
NGINX_LEVELS = re.compile(r"\[(warn|error|crit|alert|emerg)\]")


# --------------------------------------------------------------------------
# the matrix
# --------------------------------------------------------------------------

def first_line(message: str, width: int = 170) -> str:
    line = next((l.strip() for l in str(message).splitlines() if l.strip()), "failed")
    return line if len(line) <= width else line[:width - 3] + "..."


@dataclass
class Cell:
    source: str
    consumer: str
    readings: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @contextlib.contextmanager
    def leaf(self, leaf: str) -> Iterator[None]:
        """One leaf's reading; a failure is recorded and the other leaf still read."""
        try:
            yield
        except (Exception, pytest.fail.Exception) as e:  # noqa: BLE001
            self.failures[leaf] = str(e) or repr(e)

    def ok(self, leaf: str, reading: str, note: str | None = None) -> None:
        self.readings[leaf] = reading
        if note is not None:
            self.note(note)

    def note(self, note: str) -> None:
        if note not in self.notes:
            self.notes.append(note)

    def text(self) -> str:
        marks = "".join(f"[{list(NOTES).index(n) + 1}]" for n in self.notes)
        parts = [("FAIL" if leaf in self.failures else self.readings.get(leaf, "?")) for leaf in LEAF_STATUS]
        if "cell" in self.failures and not self.readings:
            parts = ["FAIL", "FAIL"]
        return " | ".join(parts) + (" " + marks if marks else "")


class Matrix:
    def __init__(self):
        self.cells: dict[tuple[str, str], Cell] = {}

    @contextlib.contextmanager
    def cell(self, bench: "Bench", consumer: str) -> Iterator[Cell]:
        """Records the cell, runs its body in the source's network namespace (if any), and fails
        the test, after both leaves were read, when either failed."""
        cell = Cell(bench.source.name, consumer)
        self.cells[(cell.source, consumer)] = cell
        try:
            with bench.source.entered():
                yield cell
        except (Exception, pytest.fail.Exception) as e:  # noqa: BLE001
            cell.failures.setdefault("cell", str(e) or repr(e))
            raise
        if cell.failures:
            pytest.fail("\n\n".join(f"{leaf} leaf: {message}" for leaf, message in cell.failures.items()),
                        pytrace=False)

    def render(self) -> list[str]:
        width = max(len(c.text()) for c in self.cells.values()) + 2 if self.cells else 20
        width = max(width, max(map(len, CONSUMERS)) + 2)
        lines = ["source x consumer; each cell: good leaf | revoked leaf",
                 (f"{'':20}" + "".join(f"{c:{width}}" for c in CONSUMERS)).rstrip()]
        for source in SOURCES:
            row = [self.cells[(source, c)].text() if (source, c) in self.cells else "not run" for c in CONSUMERS]
            lines.append((f"{source:20}" + "".join(f"{r:{width}}" for r in row)).rstrip())
        lines += [""] + [f"{source:20}{what}" for source, what in SOURCES.items()]
        lines += ["",
                  "TLS cells: <Cert Status read by openssl s_client -status>/<curl --cert-status: ok = exit 0, "
                  "91 = refused as revoked, noID = see note>;",
                  "'no staple': none sent (s_client 'no response sent', curl 'No OCSP response received'); "
                  "ocspctl-check: the JSON decision."]
        used = [n for n in NOTES if any(n in c.notes for c in self.cells.values())]
        for note in used:
            lines.append(f"[{list(NOTES).index(note) + 1}] {NOTES[note]}")
        failed = [(c, leaf, message) for c in self.cells.values() for leaf, message in c.failures.items()]
        if failed:
            lines += ["", f"FAILED ({len(failed)}):"]
            lines += [f"  {c.source} x {c.consumer}, {leaf}: {first_line(message)}" for c, leaf, message in failed]
        else:
            lines += ["", "every cell passed"]
        return lines


class MatrixReport:
    """A plugin printing the matrix in pytest's terminal summary (after the failures' details,
    before the short summary), whatever the verbosity."""

    def __init__(self, m: Matrix):
        self.matrix = m

    def pytest_terminal_summary(self, terminalreporter) -> None:
        terminalreporter.write_sep("=", "OCSP interop matrix")
        for line in self.matrix.render():
            terminalreporter.write_line(line)


@pytest.fixture(scope="module")
def matrix(request, log_dir) -> Iterator[Matrix]:
    m = Matrix()
    request.config.pluginmanager.register(MatrixReport(m))
    yield m
    (Path(log_dir) / "interop-matrix.txt").write_text("\n".join(m.render()) + "\n")


# --------------------------------------------------------------------------
# sources
# --------------------------------------------------------------------------

@dataclass
class Source:
    name: str
    pki: SmallPki
    url: str
    diagnostics: Callable[[], str]
    netns: Netns | None = None
    responder: OpensslResponder | CfsslResponder | None = None

    @property
    def cfssl(self) -> CfsslResponder | None:
        return self.responder if isinstance(self.responder, CfsslResponder) else None

    def entered(self):
        return self.netns.entered() if self.netns is not None else contextlib.nullcontext()


def ocspd_source(name: str, d: Path, bins: Binaries, log_dir: Path, stack: contextlib.ExitStack) -> Source:
    pki = make_small_pki(d / "pki", name, key_type="rsa" if name == "ocspd-root" else "ec",
                         intermediate=name != "ocspd-root", responder=name == "ocspd-delegated")
    store = d / "store"
    ctl_ok(bins, "init", "--store", store)
    if pki.responder is not None:
        ctl_ok(bins, "issuer", "add", "--store", store, "--cert", pki.ca, "--responder-cert", pki.responder,
               "--responder-key", pki.responder_key)
    else:
        ctl_ok(bins, "issuer", "add", "--store", store, "--cert", pki.ca, "--key", pki.ca_key)
    for leaf in LEAF_STATUS:
        ctl_ok(bins, "cert", "add", "--store", store, "--cert", pki.leaves[leaf])
    ctl_ok(bins, "revoke", "--store", store, "--cert", pki.leaves["revoked"], "--reason", "keyCompromise")
    server = Ocspd(bins, store, log_dir, validity=VALIDITY)
    stack.callback(server.stop)
    server.wait_ready()
    return Source(name, pki, server.url, server.diagnostics)


def start_source(name: str, d: Path, bins: Binaries, log_dir: Path, stack: contextlib.ExitStack) -> Source:
    if name.startswith("ocspd-"):
        return ocspd_source(name, d, bins, log_dir, stack)
    if name == "openssl-ocsp":
        netns = Netns()

        def delete() -> None:
            left = netns.delete()
            assert not left, f"processes left in network namespace {netns.name}: {left}"

        stack.callback(delete)  # last: after every process in it was stopped
        pki = make_small_pki(d / "pki", name, intermediate=True, responder=True)
        responder = OpensslResponder(netns, pki, log_dir)
        stack.callback(responder.stop)
        return Source(name, pki, responder.url, responder.diagnostics, netns=netns, responder=responder)
    if name == "cfssl":
        pki = make_small_pki(d / "pki", name, intermediate=True, responder=True, clean_get_paths=True)
        responder = CfsslResponder(pki, log_dir)
        stack.callback(responder.stop)
        return Source(name, pki, responder.url, responder.diagnostics, responder=responder)
    raise AssertionError(name)


# --------------------------------------------------------------------------
# consumers: one nginx and two HAProxy per source
# --------------------------------------------------------------------------

@dataclass
class Bench:
    """A source with the TLS servers that staple its answers."""
    source: Source
    dir: Path
    staples: dict[str, subprocess.CompletedProcess] = field(default_factory=dict)
    file_crts: dict[str, Path] = field(default_factory=dict)
    api_crts: dict[str, Path] = field(default_factory=dict)
    nginx: Nginx | None = None
    nginx_file_ports: dict[str, int] = field(default_factory=dict)
    nginx_fetch_ports: dict[str, int] = field(default_factory=dict)
    haproxy_file: MultiHAProxy | None = None
    haproxy_file_ports: dict[str, int] = field(default_factory=dict)
    haproxy_api: MultiHAProxy | None = None
    haproxy_api_ports: dict[str, int] = field(default_factory=dict)

    def staple_path(self, leaf: str) -> Path:
        return Path(f"{self.file_crts[leaf]}.ocsp")


def site_crt(pki: SmallPki, path: Path, leaf: str) -> Path:
    """HAProxy's crt: leaf, key, then the issuing CA (also sent); a root goes to `<crt>.issuer`,
    not sent."""
    crt = haproxy_crt(path, pki.leaves[leaf], pki.keys[leaf], pki.ca if pki.issuer_served else None)
    if not pki.issuer_served:
        Path(f"{crt}.issuer").write_bytes(pki.root.read_bytes())
    return crt


def distinct_ports(n: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < n:
        if (port := free_port()) not in ports:
            ports.append(port)
    return ports


def start_consumers(source: Source, d: Path, stack: contextlib.ExitStack) -> Bench:
    pki, bench = source.pki, Bench(source, d)
    for leaf in LEAF_STATUS:
        bench.file_crts[leaf] = site_crt(pki, d / "haproxy-file" / f"{leaf}.pem", leaf)
        bench.api_crts[leaf] = site_crt(pki, d / "haproxy-api" / f"{leaf}.pem", leaf)
        # An empty .ocsp registers the certificate for the runtime API (and staples nothing).
        Path(f"{bench.api_crts[leaf]}.ocsp").write_bytes(b"")
        bench.staples[leaf] = staple("--cert", pki.leaves[leaf], "--issuer", pki.ca, "--out",
                                     bench.staple_path(leaf), "--url", source.url)
    stapled = [leaf for leaf in LEAF_STATUS if bench.staple_path(leaf).exists()]
    ports = iter(distinct_ports(3 * len(LEAF_STATUS) + len(stapled)))

    servers = {}
    for leaf in stapled:  # nginx refuses to start on a missing ssl_stapling_file
        bench.nginx_file_ports[leaf] = port = next(ports)
        servers[port] = (f"ssl_certificate {pki.chain(leaf)}; ssl_certificate_key {pki.keys[leaf]}; "
                         f"ssl_stapling on; ssl_stapling_file {bench.staple_path(leaf)};")
    for leaf in LEAF_STATUS:
        bench.nginx_fetch_ports[leaf] = port = next(ports)
        servers[port] = server_body(pki.chain(leaf), pki.keys[leaf], source.url, pki.root)
    bench.nginx = Nginx(d / "nginx", servers)
    stack.callback(bench.nginx.stop)
    bench.nginx.start()

    if stapled:
        bench.haproxy_file_ports = {leaf: next(ports) for leaf in stapled}
        bench.haproxy_file = MultiHAProxy(d / "haproxy-file", {bench.haproxy_file_ports[leaf]: bench.file_crts[leaf]
                                                               for leaf in stapled})
        stack.callback(bench.haproxy_file.stop)
        bench.haproxy_file.start()
    bench.haproxy_api_ports = {leaf: next(ports) for leaf in LEAF_STATUS}
    bench.haproxy_api = MultiHAProxy(d / "haproxy-api", {bench.haproxy_api_ports[leaf]: bench.api_crts[leaf]
                                                         for leaf in LEAF_STATUS})
    stack.callback(bench.haproxy_api.stop)
    bench.haproxy_api.start()
    return bench


@pytest.fixture(scope="module", params=list(SOURCES))
def bench(request, bins, log_dir, tmp_path_factory) -> Iterator[Bench]:
    if not (STAPLER_BIN.is_file() and os.access(STAPLER_BIN, os.X_OK)):
        pytest.fail(f"ocsp-stapler not found / not executable: {STAPLER_BIN} (run `swift build`)", pytrace=False)
    d = tmp_path_factory.mktemp(f"interop-{request.param}")
    with contextlib.ExitStack() as stack:
        source = start_source(request.param, d, bins, log_dir, stack)
        with source.entered():
            bench = start_consumers(source, d, stack)
        if source.netns is not None:
            inside = set(source.netns.pids())
            for server in (source.responder, bench.nginx, bench.haproxy_file, bench.haproxy_api):
                if server is not None:
                    assert server.proc.pid in inside, f"{server.proc.args} is not in {source.netns.name}"
        yield bench


# --------------------------------------------------------------------------
# readings
# --------------------------------------------------------------------------

def stapler_said(proc: subprocess.CompletedProcess) -> str:
    """The stapler's error (its `error=` field), else its last line."""
    lines = proc.stderr.strip().splitlines()
    for line in lines:
        if found := re.search(r" error=(.*?)(?= [a-z_]+=| \[)", line):
            return found.group(1)
    return lines[-1] if lines else f"exit {proc.returncode}"


def require_staple(bench: Bench, leaf: str) -> None:
    """The staple `ocsp-stapler --once` wrote for the file consumers."""
    proc, want = bench.staples[leaf], STAPLER_EXIT[LEAF_STATUS[leaf]]
    assert proc.returncode == want and bench.staple_path(leaf).exists(), \
        f"ocsp-stapler --once exit {proc.returncode} (expected {want}), no staple: {stapler_said(proc)}" \
        + describe(proc) + bench.source.diagnostics()


def cert_status_line(text: str) -> str:
    if NO_STAPLE in text:
        return "no staple"
    found = re.search(r"Cert Status: \w+", text)
    return found.group(0) if found else "no OCSP section"


def read_tls(bench: Bench, port: int, leaf: str, cell: Cell) -> str:
    """s_client's Cert Status, then curl --cert-status; the reading for the matrix."""
    pki, status = bench.source.pki, LEAF_STATUS[leaf]
    text = s_client_status(port, pki.root)
    try:
        assert_staple(text, status, pki.serial(leaf))
    except AssertionError:
        raise AssertionError(f"s_client -status: {cert_status_line(text)}, expected 'Cert Status: {status}' "
                             f"about serial {pki.serial(leaf)}\n{text}") from None
    proc = curl_cert_status(port, pki.root)
    said = first_line(proc.stderr) if proc.stderr.strip() else f"exit {proc.returncode}"
    if not pki.issuer_served:
        cell.note("curl-root")
        hint = (" - the staple did not verify: the response carries no signer certificate and the root is not "
                "in the served chain" if CURL_UNVERIFIED in proc.stderr else "")
        assert proc.returncode == CURL_INVALID_CERT_STATUS and CURL_NO_CERTID in proc.stderr, \
            f"curl --cert-status: {said}; expected '{CURL_NO_CERTID}' after the staple verified{hint}" + describe(proc)
        return f"{status}/noID"
    if status == "good":
        assert proc.returncode == 0 and proc.stdout == "ok", f"curl --cert-status refused a good staple: {said}" \
            + describe(proc)
        return "good/ok"
    assert proc.returncode == CURL_INVALID_CERT_STATUS and CURL_REVOKED in proc.stderr, \
        f"curl --cert-status: {said}; expected '{CURL_REVOKED}' (exit 91)" + describe(proc)
    return "revoked/91"


def nginx_complaints(nginx: Nginx, certificate: Path) -> list[str]:
    """nginx's error-log lines at warn or worse about `certificate` (its OCSP lines name it)."""
    return [line for line in nginx.error_log().splitlines()
            if NGINX_LEVELS.search(line) and f'"{certificate}"' in line]


def curl_sees_no_staple(pki: SmallPki, port: int) -> None:
    proc = curl_cert_status(port, pki.root)
    assert proc.returncode == CURL_INVALID_CERT_STATUS and CURL_NO_STAPLE in proc.stderr, \
        f"curl --cert-status without a staple: expected '{CURL_NO_STAPLE}'" + describe(proc)


def fetched_good(bench: Bench, cell: Cell) -> str:
    """nginx fetches (lazily: handshakes until a staple comes), verifies, staples good; its error
    log says nothing about the certificate."""
    pki, port, nginx = bench.source.pki, bench.nginx_fetch_ports["good"], bench.nginx
    chain = pki.chain("good")
    deadline = time.monotonic() + FETCH_TIMEOUT
    while "Cert Status:" not in (text := s_client_status(port, pki.root)):
        if complaints := nginx_complaints(nginx, chain):
            pytest.fail(f"nginx: {first_line(complaints[-1].split(': ', 1)[-1], 400)}" + nginx.diagnostics()
                        + bench.source.diagnostics(), pytrace=False)
        if time.monotonic() >= deadline:
            pytest.fail(f"nginx stapled nothing within {FETCH_TIMEOUT}s:\n{text}" + nginx.diagnostics()
                        + bench.source.diagnostics(), pytrace=False)
        time.sleep(0.3)
    reading = read_tls(bench, port, "good", cell)
    complaints = nginx_complaints(nginx, chain)
    assert not complaints, "nginx's error log has OCSP complaints about the good leaf:\n" + "\n".join(complaints)
    return reading


def fetched_revoked(bench: Bench) -> str:
    """nginx fetches and verifies the revoked answer, logs it, and staples nothing."""
    pki, port, nginx = bench.source.pki, bench.nginx_fetch_ports["revoked"], bench.nginx
    chain = pki.chain("revoked")
    deadline = time.monotonic() + FETCH_TIMEOUT
    while True:
        text = s_client_status(port, pki.root)
        assert "Cert Status:" not in text, f"nginx stapled an answer about the revoked leaf:\n{text}"
        complaints = nginx_complaints(nginx, chain)
        if any(REVOKED_LOG in line for line in complaints):
            break
        if complaints:
            pytest.fail(f"nginx: {first_line(complaints[-1].split(': ', 1)[-1], 400)}" + nginx.diagnostics()
                        + bench.source.diagnostics(), pytrace=False)
        if time.monotonic() >= deadline:
            pytest.fail(f"nginx did not log '{REVOKED_LOG}' within {FETCH_TIMEOUT}s" + nginx.diagnostics()
                        + bench.source.diagnostics(), pytrace=False)
        time.sleep(0.3)
    others = [line for line in nginx_complaints(nginx, chain) if REVOKED_LOG not in line]
    assert not others, "nginx's error log has other OCSP complaints about the revoked leaf:\n" + "\n".join(others)
    text = s_client_status(port, pki.root)
    assert NO_STAPLE in text and "Cert Status" not in text, text
    curl_sees_no_staple(pki, port)
    return "no staple"


def fetch_refused_by_cfssl(bench: Bench, leaf: str) -> str:
    """nginx's GET reaches ocspserve, which answers 400 (its log says so): no staple."""
    pki, port, nginx, cfssl = bench.source.pki, bench.nginx_fetch_ports[leaf], bench.nginx, bench.source.cfssl
    refused = cfssl_get_refused_line(pki, leaf)
    deadline = time.monotonic() + FETCH_TIMEOUT
    while refused not in cfssl.output():
        text = s_client_status(port, pki.root)
        assert "Cert Status:" not in text, f"nginx stapled an answer it got by GET from cfssl:\n{text}"
        if time.monotonic() >= deadline:
            pytest.fail(f"cfssl never logged nginx's GET for the {leaf} leaf ({refused!r}) within "
                        f"{FETCH_TIMEOUT}s" + nginx.diagnostics() + cfssl.diagnostics(), pytrace=False)
        time.sleep(0.3)
    text = s_client_status(port, pki.root)
    assert NO_STAPLE in text and "Cert Status" not in text, text
    curl_sees_no_staple(pki, port)
    return "no staple"


# --------------------------------------------------------------------------
# the cells
# --------------------------------------------------------------------------

def read_stapled_files(bench: Bench, matrix: Matrix, consumer: str, ports: dict[str, int]) -> None:
    """The staples `ocsp-stapler --once` wrote, as the server serving them sends them."""
    with matrix.cell(bench, consumer) as cell:
        for leaf in LEAF_STATUS:
            with cell.leaf(leaf):
                require_staple(bench, leaf)
                cell.ok(leaf, read_tls(bench, ports[leaf], leaf, cell))


def test_nginx_stapling_file(bench, matrix):
    read_stapled_files(bench, matrix, "nginx-file", bench.nginx_file_ports)


def test_haproxy_ocsp_file(bench, matrix):
    read_stapled_files(bench, matrix, "haproxy-file", bench.haproxy_file_ports)


def test_haproxy_runtime_api(bench, matrix):
    with matrix.cell(bench, "haproxy-api") as cell:
        pki, haproxy = bench.source.pki, bench.haproxy_api
        pid = haproxy.proc.pid
        for leaf, status in LEAF_STATUS.items():
            with cell.leaf(leaf):
                port, crt = bench.haproxy_api_ports[leaf], bench.api_crts[leaf]
                text = s_client_status(port, pki.root)
                assert NO_STAPLE in text, f"HAProxy staples before the runtime API was used:\n{text}"
                proc = staple("--cert", pki.leaves[leaf], "--issuer", pki.ca, "--out", f"{crt}.ocsp",
                              "--url", bench.source.url, "--haproxy-socket", haproxy.socket_path)
                assert proc.returncode == STAPLER_EXIT[status], \
                    f"ocsp-stapler --once --haproxy-socket exit {proc.returncode} (expected " \
                    f"{STAPLER_EXIT[status]}): {stapler_said(proc)}" + describe(proc) + bench.source.diagnostics()
                cell.ok(leaf, read_tls(bench, port, leaf, cell))
        assert haproxy.proc.poll() is None and haproxy.proc.pid == pid, "HAProxy restarted" + haproxy.diagnostics()


def test_nginx_fetch_mode(bench, matrix):
    with matrix.cell(bench, "nginx-fetch") as cell:
        for leaf in LEAF_STATUS:
            with cell.leaf(leaf):
                if bench.source.cfssl is not None:
                    cell.ok(leaf, fetch_refused_by_cfssl(bench, leaf), note="nginx-get")
                elif leaf == "good":
                    cell.ok(leaf, fetched_good(bench, cell))
                else:
                    cell.ok(leaf, fetched_revoked(bench), note="nginx-revoked")


def test_ocspctl_check(bins, bench, matrix):
    with matrix.cell(bench, "ocspctl-check") as cell:
        pki, url = bench.source.pki, bench.source.url
        for leaf, status in LEAF_STATUS.items():
            with cell.leaf(leaf):
                proc, decision = check(bins, "--cert", pki.leaves[leaf], "--issuer", pki.ca, "--url", url,
                                       policy=POLICY, tmp_path=bench.dir)
                verdict, exit_status = ("accept", 0) if status == "good" else ("reject", 1)
                attempts = decision.get("attempts") or [{}]
                assert decision["decision"] == verdict and decision.get("status") == status, \
                    f"ocspctl check: {decision['decision']} ({first_line(decision.get('reason', ''), 140)}); " \
                    f"OCSP attempt: {attempts[0].get('error') or attempts[0].get('status')}" + describe(proc)
                assert proc.returncode == exit_status and decision["source"] == "ocsp", describe(proc)
                assert attempts[0].get("url", "").startswith(url.rstrip("/")), decision
                if status == "revoked":
                    assert "keyCompromise" in decision["reason"], decision
                cell.ok(leaf, decision["decision"])
