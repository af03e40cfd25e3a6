"""A real PostgreSQL 15 for the multi-node tests (Debian's `postgresql` package, installed by
scripts/install-deps.sh): a fresh cluster in a temporary directory, on a free loopback port,
SCRAM password authentication. Run as root, the cluster belongs to the unprivileged `postgres`
user (initdb refuses root). Stopped and started again by the fault test; deleted at the end.
The same set-up as tests/support/postgres_server.h, for the C++ store tests."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import support

BIN = Path("/usr/lib/postgresql/15/bin")


class PostgresServer:
    def __init__(self) -> None:
        if not (BIN / "initdb").exists():
            raise AssertionError(f"{BIN}/initdb is missing: run scripts/install-deps.sh (package postgresql)")
        self.dir = Path(tempfile.mkdtemp(prefix="gatehouse-pg-"))
        self.data = self.dir / "data"
        self.password = support.new_password("pg")
        support.register_secret(self.password)  # must never reach a gatehouse log
        self.port = 0
        # Given to gatehouse as GATEHOUSE_STORAGE_PASSWORD_FILE (0600), never on a command line.
        self.password_file = self.dir / "password"
        self.password_file.write_text(self.password + "\n")
        os.chmod(self.password_file, 0o600)
        pwfile = self.dir / "initdb-pw"
        pwfile.write_text(self.password + "\n")
        if os.geteuid() == 0:
            subprocess.run(["chown", "-R", "postgres:postgres", str(self.dir)], check=True)
            os.chmod(self.dir, 0o755)
        self._run(str(BIN / "initdb"), "-D", str(self.data), "-U", "gatehouse", "-A", "scram-sha-256",
                  f"--pwfile={pwfile}", "--no-sync", "-E", "UTF8", "--locale=C")
        pwfile.unlink()
        if os.geteuid() == 0:  # gatehouse (root here) reads it; PostgreSQL no longer needs it
            os.chown(self.password_file, 0, 0)

    def _run(self, *cmd: str) -> None:
        as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        with open(self.dir / "commands.log", "ab") as log:
            r = subprocess.run([*as_user, *cmd], stdout=log, stderr=log, stdin=subprocess.DEVNULL, timeout=120)
        if r.returncode != 0:
            raise AssertionError(f"{' '.join(cmd[:2])} failed; see {self.dir}/commands.log and server.log")

    def start(self) -> None:
        """Starts the cluster, on the port it had before if it ran already."""
        port = self.port or support.free_port()
        self._run(str(BIN / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60", "-l", str(self.dir / "server.log"),
                  "-o", f"-c listen_addresses=127.0.0.1 -p {port} -k {self.dir} -c max_connections=100", "start")
        self.port = port

    def stop(self) -> None:
        """Stops it at once, as a crash or a failover would: clients see their connections drop."""
        self._run(str(BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def psql(self, sql: str, database: str = "postgres") -> str:
        env = dict(os.environ, PGPASSWORD=self.password)
        r = subprocess.run(["/usr/bin/psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "gatehouse", "-d", database,
                            "-v", "ON_ERROR_STOP=1", "-At", "-c", sql],
                           capture_output=True, text=True, env=env, timeout=60)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    def create_database(self, name: str) -> str:
        self.psql(f"CREATE DATABASE {name}")
        return self.url(name)

    def url(self, database: str) -> str:
        """The storage URL without the password (that comes from the password file)."""
        return f"postgresql://gatehouse@127.0.0.1:{self.port}/{database}"

    def gatehouse_env(self, database: str) -> dict:
        return {"GATEHOUSE_STORAGE_URL": self.url(database),
                "GATEHOUSE_STORAGE_PASSWORD_FILE": str(self.password_file)}

    def close(self) -> None:
        try:
            self.stop()
        except AssertionError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_until(predicate, timeout: float, interval: float = 0.02):
    """Polls until predicate() is truthy; returns (value, seconds waited), or (None, timeout)."""
    start = time.monotonic()
    while True:
        value = predicate()
        elapsed = time.monotonic() - start
        if value or elapsed > timeout:
            return value, elapsed
        time.sleep(interval)
