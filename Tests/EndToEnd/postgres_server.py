"""A throwaway PostgreSQL server (Debian's `postgresql` package) in a temporary directory, on a
free loopback port, started and stopped by the tests themselves (initdb, pg_ctl). As root (CI),
the server runs as the `postgres` user, which PostgreSQL requires."""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tls_servers import free_port


def postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL is not installed (apt-get install postgresql; make test installs it)")
    return Path(found[-1]).parent


class Postgres:
    """Call remove() when done (it stops the server if it runs)."""

    def __init__(self, tls: tuple[Path, Path] | None = None):
        """`tls`: a certificate and key file; the server then also takes TLS connections."""
        self.bin = postgres_bin()
        # Its own directory under /tmp: the postgres user cannot enter pytest's (mode 0700, root's).
        self.directory = Path(tempfile.mkdtemp(prefix="ocsp-pg-"))
        self.data = self.directory / "data"
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.directory, "postgres")
        self.options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        if tls is not None:
            for source, name in zip(tls, ("server.crt", "server.key")):
                shutil.copy(source, self.directory / name)
                os.chmod(self.directory / name, 0o600)
                if self.as_postgres:
                    shutil.chown(self.directory / name, "postgres")
            self.options += f" -c ssl=on -c ssl_cert_file={self.directory}/server.crt -c ssl_key_file={self.directory}/server.key"
        self._run("initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args) -> subprocess.CompletedProcess:
        command = [str(self.bin / tool), *map(str, args)]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, f"{tool} failed: {proc.stdout}\n{proc.stderr}\n{self.log()}"
        return proc

    def log(self) -> str:
        try:
            return (self.directory / "server.log").read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def start(self) -> None:
        self._run("pg_ctl", "-D", self.data, "-l", self.directory / "server.log", "-w", "-t", "60", "start",
                  "-o", self.options)

    def stop(self) -> None:
        self._run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "60", "stop")

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            try:
                self.stop()
            except AssertionError:
                pass
        shutil.rmtree(self.directory, ignore_errors=True)

    def sql(self, statement: str) -> str:
        proc = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-At", "-c", statement],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()
