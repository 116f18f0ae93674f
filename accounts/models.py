"""Models of the accounts app: the throttle log of sign-ups and password resets.

Failed logins are counted by django-axes in its own tables (``axes.AccessAttempt``).
"""

from django.db import models


class ThrottleHit(models.Model):
    """One attempt at a throttled action (``scope``), by one client address or one account (``key``).

    ``key`` is a SHA-256 of the address or the normalised account name, so the
    table holds no e-mail address. Rows older than their scope's window are deleted
    as new attempts come in.
    """

    scope = models.CharField(max_length=64)
    key = models.CharField(max_length=64)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["scope", "key", "created_at"], name="accounts_throttle_lookup")]

    def __str__(self) -> str:
        return f"{self.scope} at {self.created_at:%Y-%m-%d %H:%M:%S}"
