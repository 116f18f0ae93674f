"""What the scoring workers record in the database."""

from django.db import models


class WorkerPing(models.Model):
    """A worker's answer to a ping: proof that a task travelled through the broker."""

    token = models.CharField(max_length=64, unique=True)
    hostname = models.CharField(max_length=255)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.hostname} at {self.received_at:%Y-%m-%d %H:%M:%S}"
