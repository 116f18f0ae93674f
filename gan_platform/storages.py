"""Storage wiring. Public media uses Django's default storage; private files
(checkpoints, hidden content sets, outputs) use the ``private`` storage from
``settings.STORAGES``, which has no URL: local disk by default, S3-compatible
object storage when configured."""

from django.core.files.storage import Storage, storages


def private_storage() -> Storage:
    """The storage for files no URL may reach (a callable, so tests can swap STORAGES)."""
    return storages["private"]
