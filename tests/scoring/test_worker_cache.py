"""Workers read stored files only through Django's storage API (object storage has no local path) and
keep verified local copies keyed by content."""

from __future__ import annotations

import hashlib
import threading
from types import SimpleNamespace

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import InMemoryStorage, Storage

import scoring.worker.cache
from scoring.worker.cache import StorageMismatch, checkpoint_materialise, dataset_key, image_set_materialise
from tests.factories import png_bytes


class ObjectStorage(Storage):
    """Like S3: files by name through open/save/delete, and no local path (``Storage.path`` raises
    NotImplementedError, so code that reaches for one fails)."""

    def __init__(self) -> None:
        self.memory = InMemoryStorage()
        self.lock = threading.Lock()

    def _open(self, name: str, mode: str = "rb"):
        # Django's InMemoryStorage hands every caller the same file object; an object store gives
        # each reader its own stream, so copy the bytes out under a lock.
        with self.lock, self.memory.open(name, mode) as shared:
            return ContentFile(shared.read(), name=name)

    def _save(self, name: str, content) -> str:
        return self.memory.save(name, content)

    def delete(self, name: str) -> None:
        self.memory.delete(name)

    def exists(self, name: str) -> bool:
        return self.memory.exists(name)


@pytest.fixture
def object_storage(monkeypatch, settings, tmp_path):
    """Private storage without local paths (like S3), and a fresh worker cache folder."""
    storage = ObjectStorage()
    monkeypatch.setattr(scoring.worker.cache, "private_storage", lambda: storage)
    settings.ATELIER_WORKER_CACHE_DIR = tmp_path / "cache"
    return storage


def stored_image(storage, index: int, *, name: str | None = None, corrupt: bool = False) -> SimpleNamespace:
    data = png_bytes(index, kind="content")
    stored = storage.save(f"sets/{index}.png", ContentFile(b"x" + data if corrupt else data))
    return SimpleNamespace(
        pk=index,
        name=name or f"content-{index:03d}.png",
        sha256=hashlib.sha256(data).hexdigest(),
        file=SimpleNamespace(name=stored),
    )


def test_an_image_set_is_copied_once_into_a_folder_named_by_its_content(object_storage):
    images = [stored_image(object_storage, index) for index in range(3)]

    folders = []

    def materialise() -> None:
        folders.append(image_set_materialise(images))

    threads = [threading.Thread(target=materialise) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(folders) == 3 and len(set(folders)) == 1
    folder = folders[0]
    assert folder.name == dataset_key(images)
    assert sorted(path.name for path in folder.iterdir()) == [image.name for image in images]
    for image in images:
        assert hashlib.sha256((folder / image.name).read_bytes()).hexdigest() == image.sha256
    assert [path.name for path in folder.parent.iterdir()] == [folder.name], "no temporary folder is left behind"
    # a changed set is a new folder
    changed = [*images[:2], stored_image(object_storage, 7, name=images[2].name)]
    assert image_set_materialise(changed) != folder


def test_a_stored_file_that_does_not_match_its_sha256_is_refused(object_storage):
    images = [stored_image(object_storage, 0), stored_image(object_storage, 1, corrupt=True)]

    with pytest.raises(StorageMismatch, match="has SHA-256"):
        image_set_materialise(images)

    assert list((scoring.worker.cache.cache_root() / "datasets").iterdir()) == [], "a half-copied set is removed"


def test_a_checkpoint_is_copied_once_and_verified(object_storage):
    data = b"checkpoint-bytes" * 1000
    name = object_storage.save("submissions/1/checkpoint", ContentFile(data))
    submission = SimpleNamespace(sha256=hashlib.sha256(data).hexdigest(), file=SimpleNamespace(name=name))

    path = checkpoint_materialise(submission)
    object_storage.delete(name)  # the second call reads the local copy
    again = checkpoint_materialise(submission)

    assert path == again and path.read_bytes() == data and path.name == submission.sha256
    wrong = SimpleNamespace(sha256="0" * 64, file=SimpleNamespace(name=object_storage.save("x", ContentFile(b"y"))))
    with pytest.raises(StorageMismatch):
        checkpoint_materialise(wrong)
    assert not (path.parent / ("0" * 64)).exists()
