"""A throwaway PostgreSQL server (Debian's `postgresql` package) in a temporary directory, on a
free loopback port, started and stopped by the tests themselves (initdb, pg_ctl). As root (CI),
the server runs as the `postgres` user, which PostgreSQL requires.

Also a primary with a streaming, synchronous standby (`Postgres(synchronous_standby="standby1")`
and `Postgres.standby_of(primary, "standby1")`), for failover tests: `kill_immediately()` the
primary, `promote()` the standby."""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tls_servers import free_port


def postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL is not installed (apt-get install postgresql; make test installs it)")
    return Path(found[-1]).parent


def multi_host_url(servers: list["Postgres"], database: str = "postgres", **parameters: str) -> str:
    """One libpq URL naming every server, `postgres://USER[:PASSWORD]@H1:P1,H2:P2/DB?k=v`
    (e.g. target_session_attrs="read-write"). The servers share the user and password."""
    userinfo = servers[0].userinfo
    hosts = ",".join(f"127.0.0.1:{server.port}" for server in servers)
    query = "&".join(f"{key}={value}" for key, value in parameters.items())
    return f"postgres://{userinfo}@{hosts}/{database}" + (f"?{query}" if query else "")


class Postgres:
    """Call remove() when done (it stops the server if it runs)."""

    def __init__(self, tls: tuple[Path, Path] | None = None, *, password: str | None = None,
                 synchronous_standby: str | None = None, _standby_of: "Postgres | None" = None,
                 _application_name: str | None = None):
        """`tls`: a certificate and key file; the server then also takes TLS connections.
        `password`: TCP connections (not replication ones) must give it (scram-sha-256); `url`
        carries it. `synchronous_standby`: the application_name of a standby every commit waits
        for (synchronous_commit=on), with WAL for streaming replication; set on the command line
        only, so a standby made from this server does not inherit it (promoted, it must not wait
        for a standby of its own). Make standbys with `Postgres.standby_of`."""
        self.bin = postgres_bin()
        # Its own directory under /tmp: the postgres user cannot enter pytest's (mode 0700, root's).
        self.directory = Path(tempfile.mkdtemp(prefix="ocsp-pg-"))
        self.data = self.directory / "data"
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.directory, "postgres")
        self.password = _standby_of.password if _standby_of is not None else password
        self.options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        if tls is not None:
            for source, name in zip(tls, ("server.crt", "server.key")):
                shutil.copy(source, self.directory / name)
                os.chmod(self.directory / name, 0o600)
                if self.as_postgres:
                    shutil.chown(self.directory / name, "postgres")
            self.options += f" -c ssl=on -c ssl_cert_file={self.directory}/server.crt -c ssl_key_file={self.directory}/server.key"
        if synchronous_standby is not None:
            self.options += (f" -c wal_level=replica -c max_wal_senders=10 -c wal_keep_size=256MB"
                             f" -c synchronous_commit=on -c synchronous_standby_names={synchronous_standby}")
        if _standby_of is None:
            initdb = ["-D", self.data, "-U", "postgres", "--no-sync", "-A", "trust"]
            if password is not None:
                secret = self.directory / "password"
                secret.write_text(password + "\n")
                if self.as_postgres:
                    shutil.chown(secret, "postgres")
                initdb += ["--pwfile", secret]
            self._run("initdb", *initdb)
            if password is not None:
                secret.unlink()
                # Local (socket) and replication connections stay trusted; TCP clients give the password.
                (self.data / "pg_hba.conf").write_text(
                    "local all all trust\n"
                    "local replication all trust\n"
                    "host replication all 127.0.0.1/32 trust\n"
                    "host all all 127.0.0.1/32 scram-sha-256\n")
        else:
            # A copy of the primary streamed while it runs (-X stream), set up as its standby (-R:
            # standby.signal and primary_conninfo), named for synchronous_standby_names.
            self._run("pg_basebackup", "-D", self.data, "-h", "127.0.0.1", "-p", _standby_of.port, "-U", "postgres",
                      "-X", "stream", "-R", "--no-sync", "-c", "fast")
            with open(self.data / "postgresql.auto.conf", "a") as conf:
                conf.write(f"primary_conninfo = 'host=127.0.0.1 port={_standby_of.port} user=postgres "
                           f"application_name={_application_name}'\n")
            self.options += " -c hot_standby=on"
        self.start()

    @classmethod
    def standby_of(cls, primary: "Postgres", application_name: str = "standby1") -> "Postgres":
        """A hot standby streaming from `primary` (pg_basebackup), on its own port; with the
        primary's `synchronous_standby` name it is the synchronous one (see
        `primary.wait_synchronous`)."""
        return cls(_standby_of=primary, _application_name=application_name)

    @property
    def userinfo(self) -> str:
        return "postgres" if self.password is None else f"postgres:{self.password}"

    @property
    def url(self) -> str:
        return f"postgres://{self.userinfo}@127.0.0.1:{self.port}/postgres"

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

    def kill_immediately(self) -> None:
        """Stops the server the way a crash does: every backend quits at once, nothing is
        checkpointed, clients' connections drop (`pg_ctl stop -m immediate`)."""
        self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "-t", "60", "stop")

    def promote(self) -> None:
        """A standby becomes a primary (`pg_ctl promote -w`: returns once it takes writes)."""
        self._run("pg_ctl", "-D", self.data, "-w", "-t", "60", "promote")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def remove(self) -> None:
        if self.running():
            try:
                self.stop()
            except AssertionError:
                try:
                    self.kill_immediately()
                except AssertionError:
                    pass
        shutil.rmtree(self.directory, ignore_errors=True)

    def sql(self, statement: str, timeout: float = 60) -> str:
        environment = dict(os.environ, PGCONNECT_TIMEOUT="10")
        if self.password is not None:
            environment["PGPASSWORD"] = self.password
        proc = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-At", "-c", statement],
                              capture_output=True, text=True, timeout=timeout, env=environment, stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    def in_recovery(self) -> bool:
        return self.sql("SELECT pg_is_in_recovery()") == "t"

    def wait_synchronous(self, application_name: str = "standby1", timeout: float = 60) -> None:
        """Waits until the standby named `application_name` streams from this primary and is its
        synchronous standby (pg_stat_replication: state streaming, sync_state sync)."""
        deadline = time.monotonic() + timeout
        query = ("SELECT state || ' ' || sync_state FROM pg_stat_replication "
                 f"WHERE application_name = '{application_name}'")
        seen = ""
        while True:
            seen = self.sql(query)
            if seen == "streaming sync":
                return
            assert time.monotonic() < deadline, \
                f"standby {application_name} not streaming synchronously within {timeout} s (pg_stat_replication: {seen!r})\n{self.log()}"
            time.sleep(0.1)
