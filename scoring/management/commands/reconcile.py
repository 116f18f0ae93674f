"""``manage.py reconcile``: the reconciler for cron, where no Celery beat runs."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from scoring.services import reconcile


class Command(BaseCommand):
    help = (
        "Re-send queued submissions that no worker holds and take back expired leases (what Celery beat runs "
        "every 60 s). Safe to run while beat runs too: every step is a conditional update."
    )

    def handle(self, *args, **options) -> None:
        report = reconcile()
        self.stdout.write(json.dumps(report.as_dict(), sort_keys=True))
