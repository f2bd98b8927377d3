"""A throwaway PostgreSQL server in a temporary folder, for the fleet tests, benchmark and demos.

Why a real server: the fleet store's guarantees (row-level security, grants, ON CONFLICT, COPY,
a connection killed mid-transaction) are PostgreSQL behaviour; a mock or SQLite cannot prove
them. The server is Debian's `postgresql-15` (initdb + pg_ctl), listening on a free port on
127.0.0.1 only, with its unix socket inside the temporary folder. PostgreSQL refuses to run as
root, so when this process is root the folder is handed to an unprivileged user (`nobody`, or a
system user created for it) and initdb/pg_ctl run through `runuser`.
"""

from __future__ import annotations

import datetime as dt
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from bench.errors import BenchError

SUPERUSER = "fleet_super"
FALLBACK_USER = "essbench-pg"
INSTALL_HINT = "install Debian's postgresql-15 package (`make postgres` does it as root: apt-get install postgresql-15)"


class ServerUnavailable(BenchError):
    """No PostgreSQL server binaries here, or the server would not start."""


def find_bindir(preferred: str = "15") -> Path:
    """The folder holding initdb/pg_ctl/postgres: $BENCH_PG_BINDIR, else /usr/lib/postgresql/<v>/bin."""
    env = os.environ.get("BENCH_PG_BINDIR")
    candidates = [Path(env)] if env else []
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: (Path(p).parent.name != preferred, p))
    candidates += [Path(p) for p in found]
    for d in candidates:
        if (d / "initdb").exists() and (d / "pg_ctl").exists() and (d / "postgres").exists():
            return d
    raise ServerUnavailable(f"no PostgreSQL server binaries (initdb, pg_ctl) found; {INSTALL_HINT}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _service_user() -> pwd.struct_passwd | None:
    """None when not root; else the unprivileged account the server runs as (created if missing)."""
    if os.geteuid() != 0:
        return None
    for name in ("nobody", FALLBACK_USER):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", FALLBACK_USER],
        check=True,
        capture_output=True,
    )
    return pwd.getpwnam(FALLBACK_USER)


def _write_tls_files(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1/localhost (for sslmode=verify-full tests)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ESS Bench throwaway test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = folder / "ca.crt", folder / "server.crt", folder / "server.key"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return ca_path, cert_path, key_path


class LocalPostgres:
    """initdb + pg_ctl in a temporary folder; `stop()` (or the context manager) removes everything.

    `durable=False` turns fsync off: right for tests, wrong for throughput figures.
    """

    def __init__(
        self, *, durable: bool = False, tls: bool = False, max_connections: int = 60, database: str = "fleet"
    ) -> None:
        self.durable = durable
        self.tls = tls
        self.max_connections = max_connections
        self.database = database
        self.password = secrets.token_urlsafe(18)
        self.port = 0
        self.folder: Path | None = None
        self.ca_path: Path | None = None
        self._user = None
        self._bindir: Path | None = None
        self.started = False

    # -- helpers ---------------------------------------------------------------------------
    def _as_service(self, args: list[str], *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C"}
        cmd = args if self._user is None else ["runuser", "-u", self._user.pw_name, "--", *args]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
        return proc

    @property
    def data_dir(self) -> Path:
        assert self.folder is not None
        return self.folder / "data"

    @property
    def log_path(self) -> Path:
        assert self.folder is not None
        return self.folder / "server.log"

    def url(self, user: str = SUPERUSER, database: str | None = None, **options: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in options.items())
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database or self.database}" + (f"?{query}" if query else "")

    def write_pgpass(self, path: Path, entries: dict[str, str]) -> Path:
        """A pgpass file (mode 0600) holding passwords for `user: password` on this server."""
        lines = [f"127.0.0.1:{self.port}:*:{SUPERUSER}:{self.password}"]
        lines += [f"127.0.0.1:{self.port}:*:{user}:{pw}" for user, pw in entries.items()]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        path.chmod(0o600)
        return path

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-n:])
        except OSError:
            return "(no server log)"

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> LocalPostgres:
        self._bindir = find_bindir()
        self._user = _service_user()
        self.folder = Path(tempfile.mkdtemp(prefix="bench-pg-"))
        try:
            self._init()
            last = ""
            for _ in range(3):  # a free port can be taken by someone else before the server binds it
                self.port = free_port()
                last = self._start_once()
                if not last:
                    self.started = True
                    self._create_database()
                    return self
            raise ServerUnavailable(f"PostgreSQL did not start: {last}\n{self.log_tail()}")
        except BaseException:
            self.stop()
            raise

    def _init(self) -> None:
        assert self.folder is not None and self._bindir is not None
        if self._user is not None:
            os.chown(self.folder, self._user.pw_uid, self._user.pw_gid)
        pwfile = self.folder / "pw"
        pwfile.write_text(self.password + "\n", encoding="utf-8")
        if self._user is not None:
            os.chown(pwfile, self._user.pw_uid, self._user.pw_gid)
        pwfile.chmod(0o600)
        proc = self._as_service(
            [
                str(self._bindir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
                *([] if self.durable else ["--no-sync"]),
            ]
        )
        pwfile.unlink()
        if proc.returncode != 0:
            raise ServerUnavailable(f"initdb failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
        conf = [
            f"unix_socket_directories = '{self.folder}'",
            "listen_addresses = '127.0.0.1'",
            f"max_connections = {self.max_connections}",
            "shared_buffers = 64MB",
            "log_min_messages = warning",
            "log_connections = off",
            "dynamic_shared_memory_type = posix",
        ]
        if not self.durable:
            conf += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        if self.tls:
            tls_dir = self.folder / "tls"
            tls_dir.mkdir()
            self.ca_path, cert, key = _write_tls_files(tls_dir)
            if self._user is not None:
                for p in (tls_dir, self.ca_path, cert, key):
                    os.chown(p, self._user.pw_uid, self._user.pw_gid)
            tls_dir.chmod(0o755)
            self.ca_path.chmod(0o644)
            conf += ["ssl = on", f"ssl_cert_file = '{cert}'", f"ssl_key_file = '{key}'"]
        with (self.data_dir / "postgresql.conf").open("a", encoding="utf-8") as fh:
            fh.write("\n# ESS Bench throwaway server\n" + "\n".join(conf) + "\n")

    def _start_once(self) -> str:
        assert self._bindir is not None
        proc = self._as_service(
            [
                str(self._bindir / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_path),
                "-o",
                f"-p {self.port}",
                "-w",
                "-t",
                "60",
                "start",
            ]
        )
        if proc.returncode == 0:
            return ""
        return (proc.stderr.strip() or proc.stdout.strip()) or f"pg_ctl exit {proc.returncode}"

    def _create_database(self) -> None:
        import psycopg

        with psycopg.connect(self.url(database="postgres"), password=self.password, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')

    def stop(self) -> None:
        """Stop the server and remove the folder; safe to call twice."""
        if self.started and self._bindir is not None:
            # the folder is deleted next, so nothing needs a shutdown checkpoint
            self._as_service(
                [str(self._bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "-t", "60", "stop"]
            )
            self.started = False
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
