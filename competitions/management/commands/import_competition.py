"""Import a competition bundle (zip with competition.yaml, style/ and content/)."""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from gan_platform.errors import ApplicationError


class Command(BaseCommand):
    help = "Import a competition bundle. Nothing is written when the bundle has a problem."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("bundle", type=Path, help="The bundle zip.")
        parser.add_argument("--organizer", metavar="USERNAME", help="Make this existing user an organizer.")
        parser.add_argument(
            "--replace",
            action="store_true",
            help="Replace a competition with the same slug (refused if it has submissions).",
        )
        parser.add_argument(
            "--slug",
            metavar="NEW",
            help="Import as a new edition under this slug instead of the bundle's; the copy starts as a draft.",
        )

    def handle(self, *args, **options) -> None:
        from competitions.bundles import OnExisting, bundle_import

        organizer = None
        if options["organizer"]:
            organizer = get_user_model().objects.filter(username=options["organizer"]).first()
            if organizer is None:
                raise CommandError(f"--organizer: no user {options['organizer']!r}; create it first (createsuperuser).")
        bundle: Path = options["bundle"]
        if not bundle.is_file():
            raise CommandError(f"{bundle}: no such file; pass the path of a bundle .zip.")
        try:
            competition = bundle_import(
                bundle,
                organizer=organizer,
                on_existing=OnExisting.REPLACE if options["replace"] else OnExisting.REFUSE,
                slug=options["slug"] or None,
            )
        except ApplicationError as error:
            raise CommandError(f"{bundle}: {error.message}") from error
        phases = ", ".join(competition.phases.order_by("order").values_list("slug", flat=True))
        counts = {image_set.kind: image_set.image_count for image_set in competition.image_sets.all()}
        self.stdout.write(
            f"Imported {competition.slug} ({competition.visibility}): phases {phases}; "
            f"{counts.get('style', 0)} style images, {counts.get('content', 0)} content images."
        )
