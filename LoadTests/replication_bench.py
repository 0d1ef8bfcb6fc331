#!/usr/bin/env python3
"""Several hosts on loopback (issue 25): a PostgreSQL system of record (Debian's server, started
here in a temporary directory) and N ocspd followers, each with its own store.

Prints, in one run:
  - revocation-to-visible: for each of R revocations (`ocspctl revoke --database`, one at a time),
    the time from the command's acknowledgement (PostgreSQL committed) until every follower
    answers `revoked` (OCSP POST over a kept-alive connection, polled); p50, p99, max. Next to it
    the same for one ocspd on its own store (`ocspctl revoke --store`): the embedded default.
  - the cache tier: GET throughput (ocsp-load, Zipf over the population, 64 connections, one
    thread) through nginx running Config/nginx/ocsp-cache.conf in front of the followers, against
    one ocspd answering directly; alternated twice.
  - catch-up: a follower stopped while C certificates are revoked in one command, then started:
    the time until it has applied them all (its /metrics), and the rate.

    python3 LoadTests/replication_bench.py [--bin DIR] [--followers 3] [--revocations 100] [--changes 100000] [--seconds 5]

DIR holds ocspd, ocspctl and ocsp-load (default .build/release). Local processes on 127.0.0.1 only; every wait is
bounded; everything is removed at the end."""
from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "Tests" / "EndToEnd"))
from ocsp_e2e import spki_key_hash  # noqa: E402
from postgres_server import Postgres  # noqa: E402
from test_cache_tier import CacheTier  # noqa: E402
from tls_servers import free_port  # noqa: E402

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.x509 import ocsp  # noqa: E402


def run(*args, timeout=600) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(map(str, args))}\n{proc.stdout}{proc.stderr}")
    return proc


class Server:
    def __init__(self, ocspd: Path, store: Path, *extra: str):
        self.proc = subprocess.Popen([str(ocspd), "--store", str(store), "--listen", "127.0.0.1:0", "--threads", "1", *extra],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("ocspd listening on http://127.0.0.1:"):
            sys.exit(f"ocspd did not start: {line!r}")
        self.port = int(line.rsplit(":", 1)[1].strip("/\n"))
        self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def status(self, request: bytes) -> ocsp.OCSPCertStatus:
        self.connection.request("POST", "/", body=request, headers={"Content-Type": "application/ocsp-request"})
        return ocsp.load_der_ocsp_response(self.connection.getresponse().read()).certificate_status

    def metric(self, name: str) -> float:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        connection.request("GET", "/metrics")
        for line in connection.getresponse().read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return -1

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)


def request_for(issuer: x509.Certificate, serial: int) -> bytes:
    name_hash = hashes.Hash(hashes.SHA1())
    name_hash.update(issuer.subject.public_bytes())
    return ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        name_hash.finalize(), spki_key_hash(issuer), serial, hashes.SHA1()).build().public_bytes(serialization.Encoding.DER)


def until_revoked(servers, request: bytes, started: float, limit: float = 30) -> float:
    pending = list(servers)
    while pending:
        pending = [s for s in pending if s.status(request) != ocsp.OCSPCertStatus.REVOKED]
        if time.monotonic() - started > limit:
            sys.exit("a revocation did not become visible within 30 s")
    return time.monotonic() - started


def percentiles(values):
    ordered = sorted(values)
    def at(q):
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
    return statistics.median(ordered), at(0.99), ordered[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=str(HERE.parent / ".build" / "release"))
    parser.add_argument("--followers", type=int, default=3)
    parser.add_argument("--revocations", type=int, default=100)
    parser.add_argument("--changes", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    bin_dir = Path(args.bin)
    ocspd, ocspctl, load = bin_dir / "ocspd", bin_dir / "ocspctl", bin_dir / "ocsp-load"
    for tool in (ocspd, ocspctl, load):
        if not os.access(tool, os.X_OK):
            sys.exit(f"{tool} is missing (swift build -c release, or give --bin)")

    work = Path(tempfile.mkdtemp(prefix="replication-bench-"))
    postgres = Postgres()
    servers = []
    try:
        run(ocspctl, "demo", "--dir", work / "demo", "--url", "http://127.0.0.1:9/")
        ca, key = work / "demo" / "rsa-ca.pem", work / "demo" / "rsa-ca.key"
        issuer = x509.load_pem_x509_certificate(ca.read_bytes())
        admin = work / "admin"
        db = ["--store", admin, "--database", postgres.url]
        run(ocspctl, "init", *db)
        run(ocspctl, "issuer", "add", "--cert", ca, "--key", key, *db)
        serials = [0x6A000000 + n for n in range(args.revocations)]
        listing = work / "serials.txt"
        listing.write_text("".join(f"{s:X}\n" for s in serials))
        run(ocspctl, "cert", "add", "--issuer", ca, "--serials", listing, *db)

        # Followers, and one ocspd on a store of its own with the same certificates.
        servers = [Server(ocspd, work / f"follower-{n}", "--follow", postgres.url) for n in range(args.followers)]
        alone_store = work / "alone"
        run(ocspctl, "init", "--store", alone_store)
        run(ocspctl, "issuer", "add", "--cert", ca, "--key", key, "--store", alone_store)
        run(ocspctl, "cert", "add", "--issuer", ca, "--serials", listing, "--store", alone_store)
        alone = Server(ocspd, alone_store)
        servers.append(alone)
        start_head = int(postgres.sql("SELECT sequence FROM ocsp_head"))
        for server in servers[:-1]:
            deadline = time.monotonic() + 60
            while server.metric("ocsp_follower_applied_sequence") < start_head:
                if time.monotonic() > deadline:
                    sys.exit("a follower did not catch up at start")
                time.sleep(0.1)

        followers_times, alone_times = [], []
        for serial in serials:
            request = request_for(issuer, serial)
            run(ocspctl, "revoke", "--issuer", ca, "--serial", f"{serial:X}", *db)
            followers_times.append(until_revoked(servers[:-1], request, time.monotonic()))
            run(ocspctl, "revoke", "--issuer", ca, "--serial", f"{serial:X}", "--store", alone_store)
            alone_times.append(until_revoked([alone], request, time.monotonic()))

        # The cache tier in front of the followers, against one ocspd answering directly.
        cache = CacheTier([server.port for server in servers[:-1]], free_port())
        throughput = {"nginx cache tier": [], "one ocspd": []}
        try:
            for _ in range(2):
                # Each checked against its own truth: a follower's store, or the lone ocspd's.
                for label, port, truth in (("nginx cache tier", cache.port, work / "follower-1"),
                                           ("one ocspd", alone.port, alone_store)):
                    report = work / "load.json"
                    run(load, "--url", f"http://127.0.0.1:{port}/", "--store", truth, "--method", "get",
                        "--order", "zipf", "--connections", "64", "--threads", "1", "--warmup", "1s",
                        "--duration", f"{args.seconds}s", "--json", report, timeout=args.seconds + 120)
                    throughput[label].append(json.loads(report.read_text())["requestsPerSecond"])
        finally:
            cache.stop()

        # Catch-up: one follower down while `changes` certificates are added and revoked.
        down = servers[0]
        down.proc.send_signal(signal.SIGKILL)
        down.proc.wait()
        bulk = work / "bulk.txt"
        bulk.write_text("".join(f"{0x7B00000000 + n:X}\n" for n in range(args.changes)))
        started = time.monotonic()
        run(ocspctl, "cert", "add", "--issuer", ca, "--serials", bulk, *db, timeout=3600)
        run(ocspctl, "revoke", "--issuer", ca, "--serials", bulk, "--reason", "keyCompromise", *db, timeout=3600)
        write_seconds = time.monotonic() - started
        head = int(postgres.sql("SELECT sequence FROM ocsp_head"))
        started = time.monotonic()
        restarted = Server(ocspd, work / "follower-0", "--follow", postgres.url)
        servers[0] = restarted
        while restarted.metric("ocsp_follower_applied_sequence") < head:
            if time.monotonic() - started > 3600:
                sys.exit("the follower did not catch up within an hour")
            time.sleep(0.05)
        catch_up = time.monotonic() - started
        sample = request_for(issuer, 0x7B00000000 + args.changes // 2)
        assert restarted.status(sample) == ocsp.OCSPCertStatus.REVOKED

        print(f"\nSeveral hosts on loopback, {os.cpu_count()} cores, one run (PostgreSQL {postgres.sql('SHOW server_version')})")
        print(f"{'revocation -> visible':44} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
        for label, times in ((f"{args.followers} followers (ocspctl --database)", followers_times),
                             ("1 ocspd on its own store (ocspctl --store)", alone_times)):
            p50, p99, top = percentiles(times)
            print(f"{label:44} {p50 * 1000:8.1f} {p99 * 1000:8.1f} {top * 1000:8.1f}")
        tier, direct = (statistics.median(throughput[k]) for k in ("nginx cache tier", "one ocspd"))
        print(f"\nGET throughput, Zipf over {len(serials)} certificates, 64 connections (median of 2)")
        print(f"  through the nginx cache tier ({args.followers} followers behind it): {tier:10.0f} req/s")
        print(f"  one ocspd (--threads 1) answering directly:          {direct:10.0f} req/s   cache/direct {tier / direct:.2f}")
        changes = 2 * args.changes
        print(f"\ncatch-up: a follower down during {changes} changes ({args.changes} added, then revoked)")
        print(f"  written to PostgreSQL by ocspctl in {write_seconds:.1f} s ({changes / write_seconds:.0f} changes/s)")
        print(f"  applied by the restarted follower in {catch_up:.1f} s ({changes / catch_up:.0f} changes/s)")
    finally:
        for server in servers:
            server.stop()
        postgres.remove()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
