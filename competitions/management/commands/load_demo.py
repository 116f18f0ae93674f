"""Prepare the demo: an organizer account to log in with (idempotent)."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

DEMO_ADMIN_USERNAME = "admin"
DEMO_ADMIN_PASSWORD = "atelier-demo"


class Command(BaseCommand):
    help = "Create the demo accounts (development only). Safe to run again."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("load_demo creates accounts with known passwords: it runs only with DJANGO_DEBUG=1.")
        user_model = get_user_model()
        admin, created = user_model.objects.get_or_create(
            username=DEMO_ADMIN_USERNAME, defaults={"is_staff": True, "is_superuser": True, "email": "admin@localhost"}
        )
        if created:
            admin.set_password(DEMO_ADMIN_PASSWORD)
            admin.save(update_fields=["password"])
        self.stdout.write(
            f"Demo organizer account: {DEMO_ADMIN_USERNAME} / {DEMO_ADMIN_PASSWORD}"
            + ("" if created else " (already there; password unchanged)")
        )
