"""A stand-in for the default-queue worker where a test runs none: each S3 upload verification
(``submissions.upload_session_verify``, sent on commit by the completion) runs in a thread of its own,
as a worker process would run it, so the client polls a session that really is ``verifying`` first.

Only for tests whose data is committed (``transactional_db``, a live server): the thread has its
own database connection. Tests of the service itself call ``upload_session_verify`` directly.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection


@pytest.fixture
def upload_verifier(monkeypatch) -> list[str]:
    """Ids of the sessions whose verification was sent; each one ran (or runs) in a thread."""
    from submissions.upload_sessions import upload_session_verify

    sent: list[str] = []
    threads: list[threading.Thread] = []
    errors: list[BaseException] = []

    def run(session_id: str) -> None:
        try:
            upload_session_verify(session_id=session_id)
        except BaseException as error:  # shown when the test ends
            errors.append(error)
        finally:
            connection.close()

    def send(*, session_id: str) -> None:
        sent.append(session_id)
        thread = threading.Thread(target=run, args=(session_id,), name=f"verify-{session_id[:8]}", daemon=True)
        thread.start()
        threads.append(thread)

    monkeypatch.setattr("submissions.sending.upload_session_verify_send", send)
    yield sent
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [], f"a verification raised: {errors!r}"
