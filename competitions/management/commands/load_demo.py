"""Prepare the demo: accounts, the "Photos to woodcuts" competition and queued baselines (idempotent)."""

import tempfile
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

DEMO_ADMIN_USERNAME = "admin"
DEMO_ADMIN_PASSWORD = "atelier-demo"
DEMO_PARTICIPANTS = ("alice", "bob")
DEMO_PARTICIPANT_PASSWORD = "atelier-demo"


class Command(BaseCommand):
    help = (
        "Create the demo (development only): an organizer, participants alice and bob, the woodcut competition "
        "built from the sample images in competitions/demo_images/, and baseline submissions queued for the "
        "worker. Safe to run again."
    )

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("load_demo creates accounts with known passwords: it runs only with DJANGO_DEBUG=1.")
        admin = self._account(DEMO_ADMIN_USERNAME, DEMO_ADMIN_PASSWORD, organizer=True)
        self.stdout.write(f"Demo organizer account: {DEMO_ADMIN_USERNAME} / {DEMO_ADMIN_PASSWORD}" + admin[1])
        participants = []
        for username in DEMO_PARTICIPANTS:
            user, note = self._account(username, DEMO_PARTICIPANT_PASSWORD, organizer=False)
            participants.append(user)
            self.stdout.write(f"Demo participant account: {username} / {DEMO_PARTICIPANT_PASSWORD}" + note)
        competition = self._competition(admin[0])
        self._join(competition, participants[0])
        self._baselines(competition, admin[0])

    def _account(self, username, password, *, organizer):
        defaults = {"email": f"{username}@localhost"}
        if organizer:
            defaults.update(is_staff=True, is_superuser=True)
        user, created = get_user_model().objects.get_or_create(username=username, defaults=defaults)
        if created:
            user.set_password(password)
            user.save(update_fields=["password"])
        return user, ("" if created else " (already there; password unchanged)")

    def _competition(self, admin):
        from competitions.bundles import bundle_import
        from competitions.demo import DEMO_SLUG, demo_bundle_build
        from competitions.models import Competition

        competition = Competition.objects.filter(slug=DEMO_SLUG).first()
        if competition is not None:
            self.stdout.write(f"Demo competition {DEMO_SLUG}: already there.")
            return competition
        with tempfile.TemporaryDirectory(prefix="atelier-demo-") as folder:
            bundle = Path(folder) / f"{DEMO_SLUG}.zip"
            digest = demo_bundle_build(bundle)
            competition = bundle_import(bundle, organizer=admin)
        counts = {image_set.kind: image_set.image_count for image_set in competition.image_sets.all()}
        self.stdout.write(
            f"Demo competition {DEMO_SLUG}: imported ({counts.get('style', 0)} style images, "
            f"{counts.get('content', 0)} content images, bundle sha256 {digest[:12]}). Its scores use "
            "random-initialised feature networks: they are NOT calibrated (calibrated: false)."
        )
        return competition

    def _join(self, competition, user):
        from competitions.services import participation_join

        participation = participation_join(competition=competition, user=user, accept_rules=True)
        self.stdout.write(f"{user.username} joined {competition.slug} (team {participation.team.name}).")

    def _baselines(self, competition, admin):
        from django.core.files.uploadedfile import SimpleUploadedFile

        from submissions.models import Submission

        phase = competition.phases.order_by("order").first()
        if Submission.objects.filter(phase=phase, is_baseline=True).exists():
            self.stdout.write("Demo baselines: already submitted.")
            return
        try:
            from competitions.demo import baseline_checkpoints
            from submissions.services import submission_create
        except ImportError as error:
            self.stdout.write(self.style.WARNING(f"Demo baselines skipped: {error} (install requirements.txt)."))
            return
        with tempfile.TemporaryDirectory(prefix="atelier-demo-") as folder:
            for path, description in baseline_checkpoints(Path(folder)):
                upload = SimpleUploadedFile(path.name, path.read_bytes(), content_type="application/octet-stream")
                submission = submission_create(
                    phase=phase, user=admin, uploaded_file=upload, description=description, is_baseline=True
                )
                self.stdout.write(f"Demo baseline #{submission.pk} {path.name}: {submission.state} for the worker.")
