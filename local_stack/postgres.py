"""A throwaway PostgreSQL server on loopback, for the tests and benchmarks of replicas.

Debian's ``postgresql`` package, run without its system service: ``initdb`` into a temporary
directory and ``pg_ctl`` on a free port, as the ``postgres`` user when we are root (PostgreSQL
refuses to run as root). Password authentication on TCP, as a deployment would have it.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from local_stack.servers import free_port

PASSWORD = "globalmon-test"  # a throwaway cluster on loopback, deleted when stopped


def find_bin(name: str) -> str | None:
    """``name`` from PostgreSQL's bin directory (Debian keeps it off PATH), newest version."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_version)
    return found[-1] if found else shutil.which(name)


def _version(path: str) -> tuple[int, ...]:
    part = path.split("/")[4]
    return tuple(int(x) for x in part.split(".") if x.isdigit())


def _as_owner(argv: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


@dataclass
class Postgres:
    datadir: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres:{PASSWORD}@127.0.0.1:{self.port}/postgres"

    def database(self, name: str) -> str:
        """A new empty database's URL (one per test keeps tests apart on one server)."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"'.encode())
        return self.url.rsplit("/", 1)[0] + "/" + name

    def log(self, tail: int = 4000) -> str:
        try:
            return (self.datadir.parent / "postgres.log").read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def stop(self) -> None:
        pg_ctl = find_bin("pg_ctl")
        if pg_ctl and (self.datadir / "postmaster.pid").exists():
            subprocess.run(
                _as_owner([pg_ctl, "-D", str(self.datadir), "-m", "immediate", "stop"]),
                capture_output=True,
                check=False,
                timeout=60,
            )
        shutil.rmtree(self.datadir.parent, ignore_errors=True)


def start(port: int | None = None) -> Postgres:
    """initdb and start a server; raises RuntimeError with its output when it cannot."""
    initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise RuntimeError("PostgreSQL's initdb/pg_ctl not found (Debian package postgresql)")
    top = Path(tempfile.mkdtemp(prefix="globalmon-pg-", dir="/tmp"))
    datadir = top / "data"
    pwfile = top / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        shutil.chown(top, "postgres")
        shutil.chown(pwfile, "postgres")
    port = port or free_port()
    steps = [
        [
            initdb,
            "-D",
            str(datadir),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            f"--pwfile={pwfile}",
            "-E",
            "UTF8",
            "--locale=C",
        ],
        [
            pg_ctl,
            "-D",
            str(datadir),
            "-l",
            str(top / "postgres.log"),
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {port} -k {top} -c listen_addresses=127.0.0.1 -c max_connections=200",
            "start",
        ],
    ]
    for argv in steps:
        done = subprocess.run(_as_owner(argv), capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            server = Postgres(datadir, port)
            why = done.stdout[-2000:] + done.stderr[-2000:] + server.log()
            server.stop()
            raise RuntimeError(f"{Path(argv[0]).name} failed ({done.returncode}):\n{why}")
    return Postgres(datadir, port)
