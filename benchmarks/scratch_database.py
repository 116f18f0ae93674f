"""The benchmarks' own PostgreSQL database, next to the configured one (never the configured one)."""

from __future__ import annotations


def postgres_scratch(url: str, suffix: str) -> tuple[str, str]:
    """Drop and create ``<name>_<suffix>`` on the server of ``url``; return its URL and name."""
    import psycopg

    base, _, name = url.rpartition("/")
    scratch = f"{name or 'atelier'}_{suffix}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{scratch}"')
        connection.execute(f'CREATE DATABASE "{scratch}"')
    return f"{base}/{scratch}", scratch
