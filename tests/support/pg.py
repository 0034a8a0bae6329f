"""A throwaway PostgreSQL cluster for tests.

``PostgresServer().start()`` runs ``initdb`` into a fresh directory under /tmp and starts
``postgres`` on 127.0.0.1 with a free port (trust authentication, ``fsync=off``). As root, the
commands run as the ``postgres`` system user (initdb refuses to run as root). ``stop()`` shuts
the cluster down and removes the directory; an ``atexit`` hook does the same if a test run dies.

    server = PostgresServer()
    server.start()
    url = server.create_database()      # postgres://postgres@127.0.0.1:PORT/test_xxx
    ...
    server.stop()
"""

from __future__ import annotations

from pathlib import Path
import atexit
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid

from tests.support.ports import free_port

__all__ = ["PostgresServer", "PostgresUnavailable", "find_bindir"]

SUPERUSER = "postgres"


class PostgresUnavailable(RuntimeError):
    """PostgreSQL binaries are missing or the cluster could not be started."""


def find_bindir() -> Path | None:
    """The newest ``/usr/lib/postgresql/*/bin`` holding ``initdb``, or ``PG_BINDIR``."""
    env = os.environ.get("PG_BINDIR")
    candidates = [env] if env else []

    def version(path: str) -> float:
        try:
            return float(Path(path).parent.name)
        except ValueError:
            return 0.0

    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    for cand in candidates:
        if cand and (Path(cand) / "initdb").is_file() and (Path(cand) / "postgres").is_file():
            return Path(cand)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


class PostgresServer:
    def __init__(self, bindir: Path | None = None, *, statement_stats: bool = False) -> None:
        """``statement_stats``: load ``pg_stat_statements`` (a benchmark counts statements)."""
        self.bindir = bindir or find_bindir()
        self.statement_stats = statement_stats
        if self.bindir is None:
            raise PostgresUnavailable(
                "PostgreSQL server binaries (initdb, postgres) were not found in "
                "/usr/lib/postgresql/*/bin or on PATH. Install them (e.g. `apt-get install "
                "postgresql`, or run tests/install-test-deps.sh), set PG_BINDIR, or set "
                "MSN_TEST_SKIP_POSTGRES=1 to skip the PostgreSQL half of the database tests."
            )
        self.host = "127.0.0.1"
        self.port = 0
        self.root: Path | None = None
        self.datadir: Path | None = None
        self._run_as: str | None = SUPERUSER if os.geteuid() == 0 else None
        self._started = False

    # region process helpers

    def _cmd(self, *args: str) -> list[str]:
        if self._run_as is None:
            return list(args)
        if shutil.which("runuser"):
            return ["runuser", "-u", self._run_as, "--", *args]
        return ["su", self._run_as, "-s", "/bin/sh", "-c", " ".join(_shquote(a) for a in args)]

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            self._cmd(*args), capture_output=True, text=True, timeout=120, cwd="/"
        )
        if check and proc.returncode != 0:
            raise PostgresUnavailable(
                f"{' '.join(args)} failed with exit code {proc.returncode}:\n"
                f"{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def _bin(self, name: str) -> str:
        assert self.bindir is not None
        return str(self.bindir / name)

    # endregion

    def start(self) -> None:
        if self._started:
            return
        self.root = Path(tempfile.mkdtemp(prefix="matrix-msn-pg-", dir="/tmp"))
        self.datadir = self.root / "data"
        if self._run_as is not None:
            pw = pwd.getpwnam(self._run_as)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        os.chmod(self.root, 0o700)
        atexit.register(self.stop)
        self._run(
            self._bin("initdb"),
            "-D",
            str(self.datadir),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        last_error: PostgresUnavailable | None = None
        for _ in range(5):
            self.port = free_port()
            opts = (
                f"-h {self.host} -p {self.port} -k {self.root} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
            )
            if self.statement_stats:
                opts += " -c shared_preload_libraries=pg_stat_statements"
            proc = self._run(
                self._bin("pg_ctl"),
                "-D",
                str(self.datadir),
                "-l",
                str(self.root / "postgres.log"),
                "-o",
                opts,
                "-w",
                "-t",
                "60",
                "start",
                check=False,
            )
            if proc.returncode == 0:
                self._started = True
                return
            last_error = PostgresUnavailable(
                f"postgres did not start (exit {proc.returncode}): {proc.stdout}{proc.stderr}"
                f"\n{self.log_tail()}"
            )
        assert last_error is not None
        raise last_error

    def log_tail(self, lines: int = 30) -> str:
        if self.root is None:
            return ""
        try:
            text = (self.root / "postgres.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self._started and self.datadir is not None:
            self._run(
                self._bin("pg_ctl"),
                "-D",
                str(self.datadir),
                "-m",
                "immediate",
                "stop",
                check=False,
            )
            self._started = False
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
        atexit.unregister(self.stop)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgres://{SUPERUSER}@{self.host}:{self.port}/{dbname}"

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        proc = subprocess.run(
            [
                self._bin("psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "-d",
                dbname,
                "-tA",
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if proc.returncode != 0:
            raise PostgresUnavailable(f"psql failed: {proc.stderr.strip()}")
        return proc.stdout

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database and return its URL."""
        if not self._started:
            raise RuntimeError("PostgresServer.start() was not called")
        name = name or f"test_{uuid.uuid4().hex[:16]}"
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _shquote(arg: str) -> str:
    return "'" + arg.replace("'", "'\\''") + "'"


if __name__ == "__main__":
    srv = PostgresServer()
    srv.start()
    print(srv.create_database("scratch"))
    try:
        input("PostgreSQL running; press Enter to stop ")
    finally:
        srv.stop()
