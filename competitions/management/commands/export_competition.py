"""Export a competition as a bundle zip that import_competition reads back."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Export a competition (settings, phases, metrics, split, images) as a bundle zip."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="The competition's slug.")
        parser.add_argument("-o", "--output", type=Path, required=True, metavar="BUNDLE", help="The zip to write.")

    def handle(self, *args, **options) -> None:
        from competitions.bundles import bundle_export
        from competitions.models import Competition

        competition = Competition.objects.filter(slug=options["slug"]).first()
        if competition is None:
            raise CommandError(f"No competition {options['slug']!r}; list them in the admin.")
        output: Path = options["output"]
        if not output.parent.is_dir():
            raise CommandError(f"-o {output}: the folder {output.parent} does not exist.")
        partial = output.with_name(output.name + ".partial")
        try:
            with partial.open("wb") as handle:
                bundle_export(competition, handle)
            partial.replace(output)
        finally:
            partial.unlink(missing_ok=True)
        self.stdout.write(f"Exported {competition.slug} to {output} ({output.stat().st_size:,} bytes).")
