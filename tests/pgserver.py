"""A real PostgreSQL for tests: initdb (as ``postgres``: initdb refuses root) in a temp dir,
started on 127.0.0.1 with a free port and its socket in the temp dir, ended by PID. A conftest
uses it with ``from pgserver import db_url, pg_url, postgres_url``."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from needs import unavailable

# Debian's server binaries (postgresql, installed by scripts/setup-host): the newest version
PG_BIN = max(
    Path("/usr/lib/postgresql").glob("*/bin"),
    default=Path("/nonexistent"),
    key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres(*args: str) -> subprocess.CompletedProcess[str]:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    if not (PG_BIN / "initdb").is_file():
        unavailable("PostgreSQL server binaries not installed (scripts/setup-host installs them)")
    base = Path(tempfile.mkdtemp(prefix="mspctl-pg-"))
    base.chmod(0o755)
    data, sockets = base / "data", base / "sock"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(sockets, "postgres")
    init = _as_postgres(
        str(PG_BIN / "initdb"),
        "-D",
        str(data),
        "-U",
        "mspctl",
        "--auth=trust",
        "-E",
        "UTF8",
        "--no-sync",
    )
    assert init.returncode == 0, init.stderr
    port = _free_port()
    start = _as_postgres(
        str(PG_BIN / "pg_ctl"),
        "-D",
        str(data),
        "-l",
        str(base / "log"),
        "-w",
        "-o",
        f"-h 127.0.0.1 -p {port} -k {sockets} -F",
        "start",
    )
    assert start.returncode == 0, start.stderr + (base / "log").read_text()
    pid = int((data / "postmaster.pid").read_text().split()[0])
    try:
        yield f"postgresql+psycopg://mspctl:canary-pg-pass@127.0.0.1:{port}/postgres"
    finally:
        os.kill(pid, signal.SIGINT)  # fast shutdown
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.1)
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
        gone = not Path(f"/proc/{pid}").exists()
        shutil.rmtree(base, ignore_errors=True)
        assert gone, f"postmaster {pid} survived"


@pytest.fixture
def pg_url(postgres_url: str) -> str:
    """A fresh database per test, so tests do not see each other's runs."""
    import psycopg

    name = f"t{os.getpid()}_{time.monotonic_ns()}"
    admin = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return postgres_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'home' / 'mspctl.db'}"
    return str(request.getfixturevalue("pg_url"))
