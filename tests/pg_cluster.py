"""A throwaway PostgreSQL cluster for tests, from the machine's own binaries (/usr/lib/postgresql/N/bin).

initdb refuses to run as root, so as root every server command runs as the `postgres` OS user
(runuser) in a temporary folder it owns. The server listens on a free loopback port (password
auth, scram) and on a private unix socket folder (trust), so tests can try both.
Fixtures: `pg_server` (one cluster per test session) and `pg_db` (a fresh database per test).
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest

from tests.support import free_port

SUPERUSER = "postgres"
PASSWORD = "s3cret-" + uuid.uuid4().hex[:8]  # unique: a test can grep logs for it


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    if not found:
        raise RuntimeError("no PostgreSQL server binaries: run scripts/install-test-deps.sh")
    return Path(found[-1]).parent


class PgCluster:
    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.as_root = os.geteuid() == 0
        # as root, the postgres user must reach the folder: /tmp, whatever TMPDIR says
        self.base = Path(tempfile.mkdtemp(prefix="shipper-pg-", dir="/tmp" if self.as_root else None))
        self.data = self.base / "data"
        self.sock = self.base / "sock"
        self.logfile = self.base / "server.log"
        self.port = free_port()
        self.sock.mkdir()
        if self.as_root:
            pw = pwd.getpwnam("postgres")
            for p in (self.base, self.sock):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        os.chmod(self.base, 0o755)

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=120)

    def init(self) -> None:
        pwfile = self.base / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self.as_root:
            os.chown(pwfile, pwd.getpwnam("postgres").pw_uid, -1)
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, f"--pwfile={pwfile}", "--auth-local=trust",
                  "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync", "--no-instructions")
        pwfile.unlink()
        with open(self.data / "postgresql.conf", "a") as f:
            # fsync off: the page cache survives a server crash (pg_ctl -m immediate); synchronous_commit stays
            # on, or a crash would lose commits the source had already seen
            f.write(f"listen_addresses = '127.0.0.1'\nport = {self.port}\nunix_socket_directories = '{self.sock}'\n"
                    "fsync = off\nfull_page_writes = off\nmax_connections = 60\n"
                    "shared_buffers = 16MB\n")

    def start(self) -> None:
        r = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.logfile), "-w", "-t", "60", "start", check=False)
        if r.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {r.stdout}{r.stderr}\n{self.server_log()}")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop", check=False)

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def server_log(self) -> str:
        try:
            return self.logfile.read_text()[-4000:]
        except OSError:
            return ""

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)

    # --- connection strings ------------------------------------------------------------------

    def socket_dsn(self, dbname: str = "postgres") -> str:
        return f"host={self.sock} port={self.port} dbname={dbname} user={SUPERUSER}"

    def tcp_url(self, dbname: str = "postgres") -> str:
        """Loopback TCP, scram: needs the password (password_file or PGPASSWORD)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}?sslmode=disable"

    def connect(self, dbname: str = "postgres", **kw) -> psycopg.Connection:
        return psycopg.connect(self.socket_dsn(dbname), **kw)


@pytest.fixture(scope="session")
def pg_server():
    last: Exception | None = None
    for _ in range(3):  # the free port may be taken between probing and binding
        cluster = PgCluster()
        try:
            cluster.init()
            cluster.start()
        except Exception as e:
            last = e
            cluster.destroy()
            continue
        yield cluster
        cluster.destroy()
        return
    raise RuntimeError(f"could not start a throwaway PostgreSQL: {last}")


@pytest.fixture
def pg_db(pg_server):
    """A fresh database with Cloudera AI's user_events table (types as guessed: see formats.md §2.3)."""
    name = "t_" + uuid.uuid4().hex[:12]
    with pg_server.connect(autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    with pg_server.connect(name, autocommit=True) as conn:
        conn.execute(USER_EVENTS_DDL)
    yield name
    with pg_server.connect(autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


USER_EVENTS_DDL = """
CREATE TABLE user_events (
    id          serial PRIMARY KEY,
    user_id     uuid,
    ipaddr      inet,
    user_agent  text,
    event_name  text NOT NULL,
    description text,
    created_at  timestamp without time zone NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
)
"""
