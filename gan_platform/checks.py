"""System checks of the project as a whole (registered by ``gan_platform.apps``).

``squashed_migrations_partly_applied``: a database that ran some, not all, of the migrations a
squashed one replaces cannot be migrated by this code, whose files of those migrations are gone
(decision 0020). Django then leaves the squashed migration out; ``migrate`` fails further on, or,
for an app no other migration depends on, says "No migrations to apply." and leaves tables out.
``migrate`` runs the database checks first, so this stops it with what to do instead.
"""

from __future__ import annotations

from django.core import checks
from django.db import connections
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder


@checks.register(checks.Tags.database)
def squashed_migrations_partly_applied(databases=None, **kwargs) -> list[checks.CheckMessage]:
    errors = []
    replacements = None
    for alias in databases or ():
        recorder = MigrationRecorder(connections[alias])
        if not recorder.has_table():
            continue
        applied = recorder.applied_migrations()
        if replacements is None:
            replacements = MigrationLoader(None).replacements
        for (app, name), migration in sorted(replacements.items()):
            ran = [key for key in migration.replaces if key in applied]
            if ran and len(ran) < len(migration.replaces):
                head = migration.replaces[-1][1]
                errors.append(
                    checks.Error(
                        f"Database {alias!r} ran {len(ran)} of the {len(migration.replaces)} migrations that "
                        f"{app}.{name} replaces, whose files are gone; this code cannot migrate it.",
                        hint=f"Migrate it to {app} {head} with the code from before the squash (commit ee51933), "
                        "then run migrate again (docs/decisions/0020-squashed-migrations.md).",
                        id="gan_platform.E001",
                    )
                )
    return errors
