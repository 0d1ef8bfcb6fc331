#!/usr/bin/env python3
"""Crash consistency: SIGKILL ocspctl and ocspd at random moments and check that nothing is lost.

    Tests/Crash/crash_consistency.py --bin .build/debug              # about 300 kills
    Tests/Crash/crash_consistency.py --bin .build/release --kills 1000 --seed 7

On a demo store it kills, each at a random moment of its run:
  * `ocspctl revoke --serial` (one certificate, acknowledged when it exits 0);
  * `ocspctl revoke --serials FILE` (1,000 per transaction: each batch is all or nothing);
  * `ocspctl import` of an index.txt, and `ocspctl presign`;
  * `ocspctl crl generate` (complete and delta), noting every CRL number an acknowledged run made;
  * `ocspd` serving a client while revocations land, then restarted.

After every kill the store must open (`mdb_stat`); at the end:
  * every acknowledged revocation is present, with its reason, in the store (`ocspctl status`)
    and in the answers of a restarted ocspd (parsed and verified by python `cryptography`);
  * every batch of `--serials` is revoked whole or not at all;
  * an import run to completion afterwards gives exactly the index's statuses;
  * CRL numbers were never reused and never went backwards (openssl crl -crlnumber);
  * the audit log's hash chain verifies and holds a record of every acknowledged revocation;
  * certificates never revoked still answer good.

Exit status 0 when every check passes; otherwise each failure is printed on one line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import http.client
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

REASONS = ["keyCompromise", "cACompromise", "affiliationChanged", "superseded", "cessationOfOperation"]


class Failures:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, text: str) -> None:
        self.items.append(text)
        print(f"FAIL: {text}", flush=True)


class Run:
    def __init__(self, bin_dir: Path, work: Path, rng: random.Random) -> None:
        self.ctl = bin_dir / "ocspctl"
        self.ocspd = bin_dir / "ocspd"
        self.work = work
        self.rng = rng
        self.pki = work / "pki"
        self.store = self.pki / "store"
        self.failures = Failures()
        self.kills = 0
        # serial (upper-case hex) -> reason, for every revocation ocspctl acknowledged
        self.acknowledged: dict[str, str] = {}
        # serials whose revocation was attempted but not acknowledged (killed): either state is fine
        self.maybe: set[str] = set()
        self.batches: list[list[str]] = []  # --serials batches of a killed run: each all or nothing
        self.acknowledged_lists: list[list[str]] = []  # --serials runs that exited 0 (superseded)
        self.crl_numbers: list[int] = []  # numbers of acknowledged CRLs, in order
        self.next_serial = 0x10_0000

    # -- processes ---------------------------------------------------------------------------

    def ctl_ok(self, *args: str, timeout: float = 120) -> str:
        proc = subprocess.run([str(self.ctl), *args], capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise SystemExit(f"ocspctl {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc.stdout

    def killed_run(self, args: list[str], typical: float) -> tuple[int | None, str]:
        """Starts `args`, SIGKILLs it at a random moment within about its typical run time.

        Returns its exit status (None when it was killed) and its standard output."""
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            proc.wait(timeout=self.rng.uniform(0, typical * 1.2))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            self.kills += 1
        out, err = proc.communicate(timeout=60)
        status = None if proc.returncode == -signal.SIGKILL else proc.returncode
        if status not in (None, 0):
            self.failures.add(f"{Path(args[0]).name} {' '.join(args[1:3])} exited {status}: {err.strip()[:300]}")
        return status, out

    def timed(self, args: list[str]) -> float:
        started = time.monotonic()
        proc = subprocess.run(args, capture_output=True, timeout=300)
        # `status` of a serial the store does not know exits 3 (not found), after printing it.
        if proc.returncode not in (0, 3):
            raise subprocess.CalledProcessError(proc.returncode, args, proc.stdout, proc.stderr)
        return time.monotonic() - started

    def check_store_opens(self, when: str) -> None:
        if not shutil.which("mdb_stat"):
            return
        proc = subprocess.run(["mdb_stat", "-a", str(self.store)], capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            self.failures.add(f"mdb_stat cannot read the store after {when}: {proc.stderr.strip()}")

    def new_serials(self, count: int) -> list[str]:
        serials = [f"{self.next_serial + n:X}" for n in range(count)]
        self.next_serial += count
        return serials

    # -- phases ------------------------------------------------------------------------------

    def setup(self) -> None:
        self.ctl_ok("demo", "--dir", str(self.pki), "--url", "http://127.0.0.1:9/")
        self.ec_root = self.pki / "ec-root.pem"
        self.rsa_ca = self.pki / "rsa-ca.pem"

    def revoke_one_by_one(self, kills: int) -> None:
        typical = self.timed([str(self.ctl), "status", "--store", str(self.store), "--issuer", str(self.ec_root),
                              "--serial", "01"]) * 1.5
        before = self.kills
        while self.kills - before < kills:
            serial = self.new_serials(1)[0]
            reason = self.rng.choice(REASONS)
            status, out = self.killed_run(
                [str(self.ctl), "revoke", "--store", str(self.store), "--issuer", str(self.ec_root), "--serial", serial,
                 "--reason", reason], typical)
            if status == 0:
                if not out.startswith(f"revoked {serial}"):
                    self.failures.add(f"revoke {serial} exited 0 but printed {out.strip()!r}")
                self.acknowledged[serial] = reason
            else:
                self.maybe.add(serial)
            if self.rng.random() < 0.1:
                self.check_store_opens(f"revoke {serial}")

    def revoke_lists(self, kills: int) -> None:
        serials = self.new_serials(3000)
        listing = self.work / "serials.txt"
        listing.write_text("\n".join(serials) + "\n")
        args = [str(self.ctl), "revoke", "--store", str(self.store), "--issuer", str(self.ec_root),
                "--serials", str(listing), "--reason", "superseded"]
        # The first run measures the time; later kills land inside it. A rerun revokes only what
        # is left, so rewrite the list each time with fresh serials.
        typical = None
        before = self.kills
        attempts = 0
        while self.kills - before < kills and attempts < kills * 3:
            attempts += 1
            if typical is None:
                scratch = self.work / "timing-store"
                shutil.copytree(self.store, scratch)
                typical = self.timed([*args[:2], "--store", str(scratch), *args[4:]])
                shutil.rmtree(scratch)
            status, _ = self.killed_run(args, typical)
            batches = [serials[i:i + 1000] for i in range(0, len(serials), 1000)]
            if status == 0:
                self.acknowledged_lists.append(serials)
            else:
                self.batches.extend(batches)
                self.maybe.update(serials)
            self.check_store_opens("revoke --serials")
            serials = self.new_serials(3000)
            listing.write_text("\n".join(serials) + "\n")

    def import_and_presign(self, kills: int) -> None:
        index = self.work / "index.txt"
        self.index_statuses: dict[str, str | None] = {}
        lines = []
        expiry = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=365)).strftime("%y%m%d%H%M%SZ")
        for n in range(1500):
            serial = f"{0x7000_0000 + n:X}"
            if n % 5 == 0:
                reason = REASONS[n % len(REASONS)]
                lines.append(f"R\t{expiry}\t260102030405Z,{reason}\t{serial}\tunknown\t/CN=imported {n}")
                self.index_statuses[serial] = reason
            else:
                lines.append(f"V\t{expiry}\t\t{serial}\tunknown\t/CN=imported {n}")
                self.index_statuses[serial] = None
        index.write_text("\n".join(lines) + "\n")
        import_args = [str(self.ctl), "import", "--store", str(self.store), "--issuer", str(self.rsa_ca),
                       "--index", str(index), "--presign"]
        presign_args = [str(self.ctl), "presign", "--store", str(self.store)]
        scratch = self.work / "timing-store"
        shutil.copytree(self.store, scratch)
        import_time = self.timed([*import_args[:2], "--store", str(scratch), *import_args[4:]])
        presign_time = self.timed([presign_args[0], presign_args[1], "--store", str(scratch)])
        shutil.rmtree(scratch)
        before = self.kills
        attempts = 0
        while self.kills - before < kills and attempts < kills * 3:
            attempts += 1
            if self.rng.random() < 0.5:
                self.killed_run(import_args, import_time)
                self.check_store_opens("import")
            else:
                self.killed_run(presign_args, presign_time)
                self.check_store_opens("presign")
        # Run to completion: the store must end exactly as the index says.
        self.ctl_ok(*import_args[1:])

    def crls(self, kills: int) -> None:
        out = self.work / "crl.der"
        base = [str(self.ctl), "crl", "generate", "--store", str(self.store), "--issuer", str(self.ec_root),
                "--out", str(out)]
        typical = self.timed(base)
        self.crl_numbers.append(self.crl_number(out))
        before = self.kills
        attempts = 0
        while self.kills - before < kills and attempts < kills * 4:
            attempts += 1
            delta = bool(self.crl_numbers) and self.rng.random() < 0.3
            if out.exists():
                out.unlink()
            status, stdout = self.killed_run([*base, *(["--delta"] if delta else [])], typical)
            if status != 0:
                continue
            match = re.match(r"CRL #(\d+) ", stdout)
            if not match:
                self.failures.add(f"crl generate printed {stdout.strip()!r}")
                continue
            number = int(match.group(1))
            written = self.crl_number(out)
            if written != number:
                self.failures.add(f"CRL #{number} was acknowledged but openssl reads number {written}")
            if self.crl_numbers and number <= self.crl_numbers[-1]:
                self.failures.add(f"CRL number {number} after {self.crl_numbers[-1]}: reused or backwards")
            self.crl_numbers.append(number)
        self.check_store_opens("crl generate")

    def crl_number(self, path: Path) -> int | None:
        """The CRL number of a DER CRL as openssl reads it."""
        proc = subprocess.run(["openssl", "crl", "-inform", "DER", "-in", str(path), "-noout", "-crlnumber"],
                              capture_output=True, text=True, timeout=30)
        return int(proc.stdout.strip().split("=")[1], 16) if proc.returncode == 0 else None

    def ocspd_under_load(self, kills: int) -> None:
        issuer = x509.load_pem_x509_certificate(self.ec_root.read_bytes())
        sample = list(self.acknowledged)[-200:]
        for _ in range(kills):
            server = Server(self)
            if not server.start():
                return
            stop = threading.Event()
            client = threading.Thread(
                target=self.client_loop, args=(server.port, issuer, sample, self.new_serials(500), stop), daemon=True)
            client.start()
            # Revocations land while it serves; each acknowledged one must be answered revoked.
            deadline = time.monotonic() + self.rng.uniform(0.2, 1.2)
            while time.monotonic() < deadline:
                serial = self.new_serials(1)[0]
                reason = self.rng.choice(REASONS)
                proc = subprocess.run([str(self.ctl), "revoke", "--store", str(self.store), "--issuer",
                                       str(self.ec_root), "--serial", serial, "--reason", reason],
                                      capture_output=True, text=True, timeout=60)
                if proc.returncode == 0:
                    self.acknowledged[serial] = reason
                    answer = query(server.port, issuer, serial)
                    if answer != ("revoked", reason):
                        self.failures.add(f"ocspd answered {answer} for {serial} just revoked ({reason})")
                else:
                    self.failures.add(f"revoke {serial} while ocspd runs failed: {proc.stderr.strip()}")
            server.kill()
            stop.set()
            client.join(timeout=10)
            self.kills += 1
            self.check_store_opens("killing ocspd")

    def client_loop(self, port: int, issuer: x509.Certificate, revoked: list[str], unknown: list[str],
                    stop: threading.Event) -> None:
        """Asks about revoked certificates (answered from the cache) and never-added ones (each a
        miss that ocspd signs and writes to the store, so kills also land inside its writes)."""
        rng = random.Random(port)
        while not stop.is_set() and revoked:
            serial, expected = ((rng.choice(revoked), "revoked") if rng.random() < 0.5
                                else (rng.choice(unknown), "unknown"))
            try:
                answer = query(port, issuer, serial, timeout=2)
            except (OSError, http.client.HTTPException):
                return  # the server was killed
            if answer[0] not in (expected, "tryLater"):
                self.failures.add(f"during load ocspd answered {answer} for {expected} {serial}")

    # -- final checks ------------------------------------------------------------------------

    def verify(self) -> None:
        self.check_store_opens("the last kill")
        # The store, through ocspctl, for a sample (every one through ocspd below).
        for serial in self.rng.sample(sorted(self.acknowledged), min(40, len(self.acknowledged))):
            out = self.ctl_ok("status", "--store", str(self.store), "--issuer", str(self.ec_root), "--serial", serial)
            if "revoked" not in out or self.acknowledged[serial] not in out:
                self.failures.add(f"ocspctl status of acknowledged {serial} ({self.acknowledged[serial]}): {out.strip()}")
        # The audit log: the chain is whole after every kill, and every acknowledged revocation
        # has its record (it commits in the same transaction as the revocation).
        proc = subprocess.run([str(self.ctl), "audit", "verify", "--store", str(self.store)], capture_output=True,
                              text=True, timeout=600)
        if proc.returncode != 0:
            self.failures.add(f"ocspctl audit verify: {proc.stderr.strip()}")
        proc = subprocess.run([str(self.ctl), "audit", "--store", str(self.store), "--json"], capture_output=True,
                              text=True, timeout=600)
        recorded = {}
        for line in proc.stdout.splitlines():
            record = json.loads(line)
            if record["action"] == "cert.revoke":
                recorded[int(record["serial"], 16)] = record["after"].get("reason")
        for serial, reason in self.acknowledged.items():
            if recorded.get(int(serial, 16)) != reason:
                self.failures.add(f"acknowledged revocation of {serial} ({reason}) has no audit record")
        server = Server(self)
        if not server.start():
            return
        try:
            ec = x509.load_pem_x509_certificate(self.ec_root.read_bytes())
            rsa = x509.load_pem_x509_certificate(self.rsa_ca.read_bytes())
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            for serial, reason in self.acknowledged.items():
                answer = query(server.port, ec, serial, conn=conn)
                if answer != ("revoked", reason):
                    self.failures.add(f"acknowledged revocation of {serial} ({reason}) answered {answer}")
            for listed in self.acknowledged_lists:
                for serial in [listed[0], listed[-1], *self.rng.sample(listed, 48)]:
                    answer = query(server.port, ec, serial, conn=conn)
                    if answer != ("revoked", "superseded"):
                        self.failures.add(f"acknowledged --serials revocation of {serial} answered {answer}")
            for batch in self.batches:
                picked = [batch[0], self.rng.choice(batch), batch[-1]]
                states = {query(server.port, ec, serial, conn=conn) for serial in picked}
                if len(states) != 1 or not states <= {("revoked", "superseded"), ("unknown", None)}:
                    self.failures.add(f"a --serials batch {batch[0]}..{batch[-1]} is half revoked: {states}")
            for serial, reason in self.index_statuses.items():
                answer = query(server.port, rsa, serial, conn=conn)
                expected = ("revoked", reason) if reason else ("good", None)
                if answer != expected:
                    self.failures.add(f"imported {serial}: answered {answer}, index says {expected}")
            never = self.new_serials(20)
            for serial in never:
                answer = query(server.port, ec, serial, conn=conn)
                if answer[0] != "unknown":
                    self.failures.add(f"{serial} was never added but answered {answer}")
            conn.close()
        finally:
            server.kill()


class Server:
    """ocspd on an ephemeral loopback port; killed with SIGKILL, never stopped politely."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def start(self) -> bool:
        self.proc = subprocess.Popen(
            [str(self.run.ocspd), "--store", str(self.run.store), "--listen", "127.0.0.1:0", "--threads", "1",
             "--live-sign-rate", "100000", "--no-crl"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        match = re.search(r"127\.0\.0\.1:(\d+)", line)
        if not match:
            self.run.failures.add(f"ocspd did not start on the store: {line.strip()!r} (exit {self.proc.poll()})")
            self.kill()
            return False
        self.port = int(match.group(1))
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        return True

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)


def query(port: int, issuer: x509.Certificate, serial: str, timeout: float = 10,
          conn: http.client.HTTPConnection | None = None) -> tuple[str, str | None]:
    """POSTs a request for `serial` of `issuer`; returns (status, reason) as python cryptography reads
    the signed answer, or the response status for an unsigned one."""
    name_hash = hashlib.sha1(issuer.subject.public_bytes()).digest()
    spki = issuer.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    key_hash = hashlib.sha1(_bit_string_contents(spki)).digest()
    request = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        name_hash, key_hash, int(serial, 16), hashes.SHA1()).build()
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/", body=request.public_bytes(serialization.Encoding.DER),
                     headers={"Content-Type": "application/ocsp-request"})
        body = conn.getresponse().read()
    finally:
        if own:
            conn.close()
    response = ocsp.load_der_ocsp_response(body)
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return ("tryLater" if response.response_status == ocsp.OCSPResponseStatus.TRY_LATER
                else response.response_status.name, None)
    if response.serial_number != int(serial, 16):
        raise AssertionError(f"answer names serial {response.serial_number:X}, asked {serial}")
    status = response.certificate_status
    if status == ocsp.OCSPCertStatus.REVOKED:
        reason = response.revocation_reason
        return ("revoked", _camel(reason.name) if reason else None)
    return (status.name.lower(), None)


def _camel(name: str) -> str:
    """python cryptography's ReasonFlags name (key_compromise) as RFC 5280 spells it (keyCompromise)."""
    special = {"ca_compromise": "cACompromise", "aa_compromise": "aACompromise"}
    if name in special:
        return special[name]
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


def _bit_string_contents(spki: bytes) -> bytes:
    """The subjectPublicKey bits of a DER SubjectPublicKeyInfo (the key hash's input), found by
    walking the two top-level TLVs python cryptography does not expose directly."""
    def header(buf: bytes, pos: int) -> tuple[int, int]:
        length = buf[pos + 1]
        pos += 2
        if length & 0x80:
            count = length & 0x7F
            length = int.from_bytes(buf[pos:pos + count], "big")
            pos += count
        return pos, length
    pos, _ = header(spki, 0)               # SEQUENCE
    pos, length = header(spki, pos)        # AlgorithmIdentifier
    pos += length
    pos, length = header(spki, pos)        # BIT STRING
    return spki[pos + 1:pos + length]      # without the unused-bits octet


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", required=True, type=Path, help="directory holding ocspctl and ocspd")
    parser.add_argument("--kills", type=int, default=300, help="SIGKILLs in all (default 300)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: time)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    options = parser.parse_args()
    if options.kills < 10:
        parser.error("--kills needs at least 10 (spread over five phases)")
    for name in ("ocspctl", "ocspd"):
        if not os.access(options.bin / name, os.X_OK):
            parser.error(f"no {name} in {options.bin}: build first (swift build)")
    seed = options.seed if options.seed is not None else int(time.time())
    rng = random.Random(seed)
    work = Path(tempfile.mkdtemp(prefix="ocsp-crash."))
    run = Run(options.bin.resolve(), work, rng)
    started = time.monotonic()
    share = options.kills // 10
    try:
        run.setup()
        phases = [
            ("revoke --serial", lambda: run.revoke_one_by_one(share * 4)),
            ("revoke --serials", lambda: run.revoke_lists(share)),
            ("import / presign", lambda: run.import_and_presign(share * 2)),
            ("crl generate", lambda: run.crls(share * 2)),
            ("ocspd under load", lambda: run.ocspd_under_load(max(1, options.kills - share * 9))),
        ]
        for name, phase in phases:
            before = run.kills
            phase_started = time.monotonic()
            phase()
            print(f"{name}: {run.kills - before} kills in {time.monotonic() - phase_started:.1f} s", flush=True)
        run.verify()
    finally:
        if options.keep:
            print(f"work directory: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"seed {seed}: {run.kills} kills, {len(run.acknowledged)} acknowledged revocations checked, "
          f"{len(run.crl_numbers)} CRLs (numbers {run.crl_numbers[:1]}..{run.crl_numbers[-1:]}), "
          f"{len(run.failures.items)} failures, {time.monotonic() - started:.0f} s")
    return 1 if run.failures.items else 0


if __name__ == "__main__":
    sys.exit(main())
