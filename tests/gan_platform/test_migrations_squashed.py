"""The squashed migrations (docs/decisions/0020-squashed-migrations.md): a database at the heads of
the old chains has nothing to migrate, one partway along a chain is refused with what to do, and the
models need no new migration.

The test database is built by the new migrations (the fresh path); these tests rewrite its
``django_migrations`` rows, inside the test's transaction, to what an older deployment recorded.
``scripts/migrations-schema-compare.py`` shows that the old chains and the new files build the same
tables, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder

from gan_platform.checks import squashed_migrations_partly_applied

pytestmark = pytest.mark.django_db

# Every migration the squashed files replace, as the databases migrated before them recorded it.
OLD_CHAINS = {
    ("competitions", "0001_squashed_0004_feature_weights_report"): [
        "0001_initial",
        "0002_team_join_code",
        "0003_phasemetric_human_rating",
        "0004_feature_weights_report",
    ],
    ("scoring", "0001_squashed_0002_reference_stats"): ["0001_initial", "0002_reference_stats"],
    ("submissions", "0001_squashed_0006_upload_session_verifying"): [
        "0001_initial",
        "0002_standings",
        "0003_standing_entries_and_last_submitted",
        "0004_submission_previous_scores_standing_held",
        "0005_upload_session",
        "0006_upload_session_verifying",
    ],
}


def recorded_as(*, old_names: dict[str, list[str]]) -> None:
    """Make ``django_migrations`` say what a deployment from before the squash says: no squashed
    migration, and of each old chain the names given."""
    migrations = MigrationRecorder(connection).Migration.objects
    for (app, squashed), chain in OLD_CHAINS.items():
        migrations.filter(app=app, name__in=[squashed, *chain]).delete()
        for name in old_names.get(app, []):
            migrations.create(app=app, name=name)


def test_the_squashed_migrations_replace_every_old_migration():
    # given the migrations on disk
    loader = MigrationExecutor(connection).loader

    # then each squashed migration replaces its whole old chain, and no old file is left
    for (app, squashed), chain in OLD_CHAINS.items():
        assert loader.disk_migrations[app, squashed].replaces == [(app, name) for name in chain]
        assert [name for label, name in loader.disk_migrations if label == app] == [squashed]


def test_a_fresh_database_records_the_squashed_migrations_and_the_ones_they_replace():
    # given the test database, built by `migrate` from the new files
    recorded = MigrationRecorder(connection).applied_migrations()

    # then it says it has both, as an upgraded one will
    for (app, squashed), chain in OLD_CHAINS.items():
        assert (app, squashed) in recorded
        assert all((app, name) in recorded for name in chain)
    assert squashed_migrations_partly_applied(databases=["default"]) == []


def test_a_database_at_the_old_heads_has_nothing_to_migrate():
    # given a database that ran every old migration, and none of the squashed ones by name
    recorded_as(old_names={app: chain for (app, _), chain in OLD_CHAINS.items()})

    # when the migrations are loaded against it
    executor = MigrationExecutor(connection)

    # then the squashed migrations count as applied and nothing is left to run
    for key in OLD_CHAINS:
        assert key in executor.loader.applied_migrations
    assert executor.migration_plan(executor.loader.graph.leaf_nodes()) == []
    executor.loader.check_consistent_history(connection)
    assert squashed_migrations_partly_applied(databases=["default"]) == []

    # and `migrate`, its system checks passing, records them by their new names
    call_command("migrate", "--noinput", skip_checks=False, stdout=io.StringIO())
    recorded = MigrationRecorder(connection).applied_migrations()
    assert all(key in recorded for key in OLD_CHAINS)


def test_a_database_partway_along_an_old_chain_is_not_taken_for_upgraded():
    # given a database that stopped at submissions 0003 (its later migrations never ran)
    chains = {app: chain for (app, _), chain in OLD_CHAINS.items()}
    chains["submissions"] = chains["submissions"][:3]
    recorded_as(old_names=chains)

    # when the migrations are loaded against it
    executor = MigrationExecutor(connection)

    # then the squashed submissions migration is neither applied nor usable (the old files that
    # would take the database to the old head are gone: it must get there with the old code)
    key = ("submissions", "0001_squashed_0006_upload_session_verifying")
    assert key not in executor.loader.applied_migrations
    assert key not in executor.loader.graph.node_map
    # while the chains that were complete still count as applied
    assert ("competitions", "0001_squashed_0004_feature_weights_report") in executor.loader.applied_migrations
    # and the check that `migrate` runs first names the chain and its old head
    [error] = squashed_migrations_partly_applied(databases=["default"])
    assert error.id == "gan_platform.E001"
    assert "ran 3 of the 6 migrations that submissions.0001_squashed_0006_upload_session_verifying" in error.msg
    assert "submissions 0006_upload_session_verifying" in error.hint


def test_migrate_refuses_a_database_partway_along_a_chain_no_other_app_depends_on():
    # given a database that ran scoring 0001 and not 0002 (without the check, Django would leave
    # scoring out of the plan and say "No migrations to apply.", with no ReferenceStats table)
    chains = {app: chain for (app, _), chain in OLD_CHAINS.items()}
    chains["scoring"] = ["0001_initial"]
    recorded_as(old_names=chains)

    # when migrate runs, then it stops at its system checks and says what to do
    with pytest.raises(SystemCheckError, match="gan_platform.E001") as refused:
        call_command("migrate", "--noinput", skip_checks=False, stdout=io.StringIO())
    assert "scoring.0001_squashed_0002_reference_stats" in str(refused.value)
    assert "scoring 0002_reference_stats with the code from before the squash" in str(refused.value)


def test_the_models_need_no_new_migration():
    # when makemigrations compares the models with the migrations
    out = io.StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)

    # then it finds nothing to write (it exits 1 when it does)
    assert "No changes detected" in out.getvalue()
