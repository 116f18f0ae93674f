#!/usr/bin/env python3
"""Compare the database schema that the migrations of an older revision build with the one the
working tree's migrations build (docs/decisions/0020-squashed-migrations.md).

    .venv/bin/python scripts/migrations-schema-compare.py [--old REV] [--postgres URL]

The older revision is exported with ``git archive`` and migrated from there, into a fresh SQLite
database; the working tree is migrated into another; then ``sqlite_master`` of both is compared.
With ``--postgres postgres://user@host:port`` the same is done in two PostgreSQL databases,
``mig_old`` and ``mig_new`` (dropped and created again), compared with ``pg_dump --schema-only``.
Prints the differences and exits 1 when there are any; ``django_migrations`` rows are data and are
not compared.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The last commit with the migration chains that 0001_squashed_* replace.
OLD_REV = "ee51933"


def tree_export(rev: str, into: Path) -> Path:
    """The tracked files of ``rev``, written under ``into``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    into.mkdir(parents=True)
    tar_path = into.parent / f"{into.name}.tar"
    tar_path.write_bytes(archive)
    with tarfile.open(tar_path) as tar:
        tar.extractall(into, filter="data")
    return into


def migrate(tree: Path, var_dir: Path, database_url: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    env["ATELIER_VAR_DIR"] = str(var_dir)
    if database_url:
        env["DATABASE_URL"] = database_url
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=tree, env=env, check=True)


def sqlite_schema(path: Path) -> list[str]:
    """One line per table, index and trigger: its SQL with the whitespace collapsed."""
    with sqlite3.connect(path) as connection:
        rows = connection.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type, name"
        ).fetchall()
    return [f"{kind} {name}: {' '.join(sql.split())}" for kind, name, sql in rows]


def postgres_schema(server: str, database: str) -> list[str]:
    """``pg_dump --schema-only`` without comments, settings and the dump's random restrict key."""
    dump = subprocess.run(
        ["pg_dump", "--schema-only", "--no-owner", "--no-privileges", f"{server}/{database}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    skipped = ("--", "SET ", "SELECT pg_catalog.set_config", "\\restrict", "\\unrestrict")
    return [line for line in dump.splitlines() if line.strip() and not line.startswith(skipped)]


def postgres_recreate(server: str, database: str) -> None:
    for statement in (f"DROP DATABASE IF EXISTS {database}", f"CREATE DATABASE {database}"):
        subprocess.run(["psql", "-q", "-d", f"{server}/postgres", "-c", statement], check=True)


def differences(label: str, old: list[str], new: list[str]) -> int:
    diff = list(difflib.unified_diff(old, new, f"{label} (old)", f"{label} (new)", lineterm=""))
    print(f"{label}: {len(old)} schema lines, {'identical' if not diff else 'DIFFERENT'}")
    for line in diff:
        print(line)
    return 1 if diff else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", default=OLD_REV, help=f"the older revision (default {OLD_REV})")
    parser.add_argument(
        "--postgres", help="a PostgreSQL server URL without database, e.g. postgres://postgres@127.0.0.1:5432"
    )
    args = parser.parse_args()
    failed = 0
    with tempfile.TemporaryDirectory(prefix="migrations-compare-") as tmp:
        work = Path(tmp)
        old_tree = tree_export(args.old, work / "old-tree")
        for side, tree in (("old", old_tree), ("new", ROOT)):
            migrate(tree, work / f"var-{side}", None)
        failed |= differences(
            "sqlite", sqlite_schema(work / "var-old" / "db.sqlite3"), sqlite_schema(work / "var-new" / "db.sqlite3")
        )
        if args.postgres:
            server = args.postgres.rstrip("/")
            for side, tree in (("old", old_tree), ("new", ROOT)):
                postgres_recreate(server, f"mig_{side}")
                migrate(tree, work / f"var-pg-{side}", f"{server}/mig_{side}")
            failed |= differences("postgresql", postgres_schema(server, "mig_old"), postgres_schema(server, "mig_new"))
    return failed


if __name__ == "__main__":
    sys.exit(main())
