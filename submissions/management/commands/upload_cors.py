"""``manage.py upload_cors``: the CORS rule browsers need to upload parts straight to the bucket."""

from __future__ import annotations

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from submissions import upload_bytes


class Command(BaseCommand):
    help = (
        "Put the CORS rule on the private S3 bucket that lets the submit page PUT upload parts to presigned "
        "URLs and read their ETag (it replaces the bucket's CORS configuration). Origins: --origin, else "
        "ATELIER_SITE_URL. With --print, only print the configuration (for a bucket set up by other means)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--origin",
            action="append",
            default=[],
            help="A site origin (https://host[:port]) the browser uploads from; repeat for several.",
        )
        parser.add_argument("--print", action="store_true", help="Print the CORS configuration; change nothing.")

    def handle(self, *args, **options) -> None:
        origins = options["origin"] or [settings.ATELIER_SITE_URL]
        if options["print"]:
            self.stdout.write(json.dumps(upload_bytes.cors_rules(origins), indent=2))
            return
        if not upload_bytes.uses_s3():
            raise CommandError(
                "The private storage is not an S3 bucket (ATELIER_S3_BUCKET): uploads need no CORS rule."
            )
        self.stdout.write(json.dumps(upload_bytes.bucket_cors_set(origins), indent=2))
