"""Submissions, their states and scores.

State changes happen only through conditional UPDATEs in ``scoring.services``
and ``submissions.services`` (``filter(pk=..., state=...).update(...)``), never
by saving a loaded row: two workers, or a worker and the reconciler, can hold
the same submission at once.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from gan_platform.storages import private_storage


def checkpoint_path(instance: Submission, filename: str) -> str:
    return f"submissions/{instance.phase_id}/{uuid.uuid4().hex}/checkpoint"


class Submission(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        VALIDATING = "validating", "Validating"
        GENERATING = "generating", "Generating"
        SCORING = "scoring", "Scoring"
        SCORED = "scored", "Scored"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    RUNNING_STATES = (State.VALIDATING, State.GENERATING, State.SCORING)
    UNFINISHED_STATES = (State.QUEUED, *RUNNING_STATES)
    FINISHED_STATES = (State.SCORED, State.FAILED, State.CANCELLED)

    class Format(models.TextChoices):
        SAFETENSORS = "safetensors", "safetensors (reference architecture)"
        ONNX = "onnx", "ONNX"

    MAX_ATTEMPTS = 3

    phase = models.ForeignKey("competitions.Phase", on_delete=models.PROTECT, related_name="submissions")
    team = models.ForeignKey(
        "competitions.Team", on_delete=models.PROTECT, related_name="submissions", null=True, blank=True
    )
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="submissions")
    file = models.FileField(storage=private_storage, upload_to=checkpoint_path, max_length=255)
    original_name = models.CharField(max_length=255)
    format = models.CharField(max_length=16, choices=Format.choices)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    description = models.CharField(max_length=500, blank=True)

    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED, db_index=True)
    failure_code = models.CharField(max_length=64, blank=True)
    failure_message = models.TextField(blank=True, help_text="Participant-safe: shown to the submitter.")
    failure_detail = models.TextField(blank=True, help_text="Organizers only: logs and tracebacks.")
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)

    attempts = models.PositiveSmallIntegerField(default=0)
    lease_token = models.UUIDField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=255, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True, help_text="When the task was last sent.")

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    is_final = models.BooleanField(default=False, help_text="Selected by the team for the private leaderboard.")
    previous_scores = models.JSONField(
        default=dict,
        blank=True,
        help_text="While a rerun waits or runs: the scores it replaces, {split: {metric: [value, low, high, "
        "calibrated]}}; the board keeps showing them, marked, until the rerun finishes.",
    )
    is_baseline = models.BooleanField(default=False, help_text="Shown on the leaderboard and marked; not ranked.")
    counts_against_quota = models.BooleanField(
        default=True, help_text="False when the platform, not the participant, made it fail."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["phase", "state"], name="submission_phase_state"),
            models.Index(fields=["team", "created_at"], name="submission_team_created"),
            models.Index(fields=["state", "lease_expires_at"], name="submission_state_lease"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(team__isnull=False) | Q(is_baseline=True), name="submission_has_team_unless_baseline"
            ),
            models.CheckConstraint(condition=Q(attempts__lte=10), name="submission_attempts_bounded"),
            models.CheckConstraint(
                condition=~Q(state__in=["validating", "generating", "scoring"]) | Q(lease_token__isnull=False),
                name="submission_running_has_lease",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.original_name} ({self.state})"

    @property
    def is_finished(self) -> bool:
        return self.state in self.FINISHED_STATES

    def work_prefix(self) -> str:
        """Private-storage folder of this submission's outputs (never served by URL)."""
        return f"submissions/{self.phase_id}/outputs/{self.pk}"

    def preview_output_name(self, image_name: str) -> str:
        return f"{self.work_prefix()}/preview/{image_name.rsplit('.', 1)[0]}.png"


class Score(models.Model):
    class Split(models.TextChoices):
        PUBLIC = "public", "Public"
        PRIVATE = "private", "Private"

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="scores")
    split = models.CharField(max_length=8, choices=Split.choices)
    metric = models.CharField(max_length=32)
    value = models.FloatField()
    interval_low = models.FloatField(null=True, blank=True)
    interval_high = models.FloatField(null=True, blank=True)
    calibrated = models.BooleanField(help_text="False when random-initialised feature networks computed it.")
    preprocessing_mode = models.CharField(max_length=32)
    gan_core_version = models.CharField(max_length=32)
    network_digests = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # No default ordering: it dragged the submission's ordering into every score query (a
        # 200,000-row sort on the old leaderboard); queries that need an order say so.
        constraints = [
            models.UniqueConstraint(fields=["submission", "split", "metric"], name="score_unique_per_metric"),
        ]

    def __str__(self) -> str:
        return f"{self.submission_id} {self.split} {self.metric}={self.value:.4g}"


class Standing(models.Model):
    """One row of a leaderboard: the submission that counts for one entrant (a team, or a baseline
    submission) on one split of a phase, with its ranking key and every metric's value.

    Maintained by ``submissions.standings`` in the same transaction as the event that changes it
    (a score written, a rerun, a final selection, a baseline toggle), rebuilt whole when the
    ranking changes. Reads order by :data:`ORDER` (an index serves it) and number the rows with a
    window function; nothing here depends on who reads it: visibility is applied by the selectors.
    """

    ORDER = ("missing", "rank_key", "submitted_at", "submission_id")

    phase = models.ForeignKey("competitions.Phase", on_delete=models.CASCADE, related_name="standings")
    split = models.CharField(max_length=8, choices=Score.Split.choices)
    entrant = models.CharField(max_length=40, help_text="team:<id> or baseline:<submission id>.")
    team = models.ForeignKey(
        "competitions.Team", on_delete=models.CASCADE, related_name="standings", null=True, blank=True
    )
    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="standings")
    is_baseline = models.BooleanField(default=False)
    missing = models.BooleanField(default=False, help_text="No finite ranking value: ordered after the rest.")
    rank_key = models.FloatField(default=0.0, help_text="The ranking value, negated when higher is better.")
    submitted_at = models.DateTimeField()
    values = models.JSONField(default=dict, help_text="{metric: [value, interval low, interval high]}.")
    calibrated = models.BooleanField(default=True)
    entries = models.PositiveIntegerField(default=1, help_text="The entrant's scored submissions in the phase.")
    held = models.BooleanField(default=False, help_text="The submission is being rerun: its previous scores show.")
    last_submitted_at = models.DateTimeField(
        null=True, blank=True, help_text="When the newest of the entrant's scored submissions was uploaded."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["phase", "split", "entrant"], name="standing_unique_per_entrant"),
        ]
        indexes = [
            models.Index(
                fields=["phase", "split", "missing", "rank_key", "submitted_at", "submission"],
                name="standing_order",
            ),
            models.Index(fields=["phase", "split", "team"], name="standing_team"),
        ]

    def __str__(self) -> str:
        return f"{self.phase_id} {self.split} {self.entrant} -> {self.submission_id}"


class StandingsState(models.Model):
    """Per phase: the version of its standings (bumped by every change a reader could see, so it
    makes ETags and cache keys) and the ranking configuration the rows were built for."""

    phase = models.OneToOneField(
        "competitions.Phase", on_delete=models.CASCADE, primary_key=True, related_name="standings_state"
    )
    version = models.PositiveBigIntegerField(default=1)
    built_for = models.CharField(max_length=64, blank=True, help_text="Digest of the ranking configuration.")
    rebuilt_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.phase_id} v{self.version}"


class UploadSession(models.Model):
    """A resumable upload of one checkpoint (``submissions.upload_sessions``): declared size, SHA-256
    and name, checked against everything knowable before a byte is sent; bytes arrive in chunks at
    offsets (local disk) or as parts of an S3 multipart upload; on completion the file is verified
    and becomes a :class:`Submission`. Abandoned sessions expire and their bytes are deleted.

    On S3 the file is verified by a task (``submissions.upload_session_verify``): the session is
    ``verifying`` meanwhile, then ``completed`` (with its submission) or ``failed`` (with the error
    the completion would have answered, in ``error``; its bytes are deleted)."""

    class State(models.TextChoices):
        OPEN = "open", "Open"
        COMPLETING = "completing", "Completing"
        VERIFYING = "verifying", "Verifying"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    class Backend(models.TextChoices):
        LOCAL = "local", "Local disk"
        S3 = "s3", "S3 multipart"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    phase = models.ForeignKey("competitions.Phase", on_delete=models.CASCADE, related_name="upload_sessions")
    team = models.ForeignKey(
        "competitions.Team", on_delete=models.CASCADE, related_name="upload_sessions", null=True, blank=True
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="upload_sessions")
    filename = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    description = models.CharField(max_length=500, blank=True)
    config = models.JSONField(null=True, blank=True, help_text="Architecture config given next to the file.")
    is_baseline = models.BooleanField(default=False)
    backend = models.CharField(max_length=8, choices=Backend.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    offset = models.PositiveBigIntegerField(default=0, help_text="Bytes received (local disk).")
    part_size = models.PositiveBigIntegerField(default=0, help_text="Bytes per part (S3 multipart).")
    s3_key = models.CharField(max_length=512, blank=True)
    s3_upload_id = models.CharField(max_length=1024, blank=True)
    submission = models.OneToOneField(
        Submission, on_delete=models.SET_NULL, null=True, blank=True, related_name="upload_session"
    )
    error = models.JSONField(
        null=True, blank=True, help_text="Failed: the API error of the refusal ({status, code, message, ...})."
    )
    verify_sends = models.PositiveSmallIntegerField(default=0, help_text="Verification tasks sent (S3).")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(
        db_index=True, help_text="Open: when it expires. Verifying: when the sweep sends its task again."
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(offset__lte=models.F("size")), name="upload_offset_within_size"),
        ]

    def __str__(self) -> str:
        return f"upload {self.pk} {self.filename} ({self.offset}/{self.size}, {self.state})"
