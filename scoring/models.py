"""What the scoring workers record in the database."""

from __future__ import annotations

from django.db import models

from gan_platform.storages import private_storage


class WorkerPing(models.Model):
    """A worker's answer to a ping: proof that a task travelled through the broker."""

    token = models.CharField(max_length=64, unique=True)
    hostname = models.CharField(max_length=255)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.hostname} at {self.received_at:%Y-%m-%d %H:%M:%S}"


def reference_stats_path(instance: ReferenceStats, filename: str) -> str:
    return f"reference-stats/{instance.content_hash[:2]}/{filename}"


class ReferenceStats(models.Model):
    """Cached statistics of a style (reference) set for one feature network and mode.

    Computed once per (content hash, kind, network, weights digest, mode) by a worker, stored
    as a gan_core ``.npz`` in private storage, and reused by every submission scored against
    the set. ``kind``: ``reference`` (Inception features, mean, covariance and its root) or
    ``gram`` (VGG-19 mean Gram matrices). ``calibrated`` is False for random-initialised networks.
    """

    class Kind(models.TextChoices):
        REFERENCE = "reference", "Inception features and statistics"
        GRAM = "gram", "VGG-19 Gram matrices"

    image_set = models.ForeignKey(
        "competitions.ImageSet", on_delete=models.SET_NULL, null=True, blank=True, related_name="reference_stats"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    content_hash = models.CharField(max_length=64)
    network = models.CharField(max_length=64)
    weights_digest = models.CharField(max_length=128, help_text="SHA-256 of the weights, or random-seed-N.")
    mode = models.CharField(max_length=64)
    file = models.FileField(storage=private_storage, upload_to=reference_stats_path, max_length=255)
    image_count = models.PositiveIntegerField(default=0)
    calibrated = models.BooleanField(default=True)
    gan_core_version = models.CharField(max_length=32, blank=True)
    computed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-computed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["content_hash", "kind", "network", "weights_digest", "mode"], name="reference_stats_unique_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.network} {self.mode} {self.content_hash[:12]}"
