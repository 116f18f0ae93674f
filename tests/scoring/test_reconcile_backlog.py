"""A backlog against the configured real broker (the filesystem broker on the embedded defaults, Redis
with ``REDIS_URL``): however long no worker takes the messages, the reconciler keeps at most one message
per unfinished submission, and re-sends exactly the ones the broker lost (decision 0014)."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from celery import current_app
from django.conf import settings
from django.utils import timezone

from scoring.broker import messages_held
from scoring.services import reconcile
from submissions import sending
from submissions.models import Submission

pytestmark = [pytest.mark.django_db(transaction=True)]

BACKLOG = 100


@pytest.fixture
def queue(monkeypatch):
    """A queue of this test's own, purged afterwards."""
    name = f"test-backlog-{uuid.uuid4().hex[:10]}"
    monkeypatch.setattr(settings, "ATELIER_GPU_QUEUE", name)
    yield name
    _purge(name)


def _purge(queue: str) -> None:
    with current_app.connection_for_write() as connection:
        connection.default_channel.queue_purge(queue)


def test_a_backlog_of_100_for_an_hour_keeps_one_message_per_submission(make_submission, queue, settings):
    settings.ATELIER_RECONCILE_GRACE_SECONDS = 120
    # given 100 submissions queued and sent once, and no worker taking them
    submissions = [make_submission() for _ in range(BACKLOG)]
    for submission in submissions:
        Submission.objects.filter(pk=submission.pk).update(enqueued_at=timezone.now())
        sending.submission_send(submission_id=submission.pk)
    held = messages_held(queue)
    assert held is not None, "the configured broker's queue can be read"
    assert sorted(held) == sorted(submission.pk for submission in submissions)

    # when the reconciler runs every minute for an hour
    start = timezone.now()
    resent = 0
    with time_machine.travel(start, tick=False) as clock:
        for minute in range(1, 61):
            clock.move_to(start + timedelta(minutes=minute))
            resent += len(reconcile().resent)

            if minute == 30:  # the broker loses ten messages (a Redis restart without persistence)
                _purge(queue)
                for submission in submissions[:10]:
                    sending.submission_send(submission_id=submission.pk)

    # then the broker holds exactly one message per unfinished submission
    counts = Counter(messages_held(queue))
    assert sum(counts.values()) == BACKLOG, f"{sum(counts.values())} messages for {BACKLOG} queued submissions"
    assert set(counts) == {submission.pk for submission in submissions}
    assert max(counts.values()) == 1
    # and only the 90 lost messages were re-sent (after the grace period)
    assert resent == BACKLOG - 10


def test_a_message_a_worker_took_and_never_acknowledged_holds_only_for_the_grace_period(
    make_submission, queue, settings
):
    if not settings.REDIS_URL:
        pytest.skip("unacknowledged deliveries are Redis's (set REDIS_URL); the filesystem broker has none")
    settings.ATELIER_RECONCILE_GRACE_SECONDS = 120
    # given a queued submission whose message a consumer took and has not acknowledged
    submission = make_submission()
    Submission.objects.filter(pk=submission.pk).update(enqueued_at=timezone.now() - timedelta(minutes=5))
    sending.submission_send(submission_id=submission.pk)
    with current_app.connection_for_write() as connection:
        taken = connection.SimpleQueue(queue, no_ack=False)
        message = taken.get(timeout=10)
        try:
            # then, within the grace period, a worker may still start it: nothing is re-sent
            assert messages_held(queue) == [submission.pk]
            assert reconcile().resent == []
            # and once the delivery is older than the grace period, its consumer is taken for dead: re-sent
            with time_machine.travel(timezone.now() + timedelta(minutes=3), tick=False):
                assert reconcile().resent == [submission.pk]
        finally:
            message.ack()
            taken.close()


def test_an_unacknowledged_delivery_of_another_queue_is_not_counted(make_submission, queue, settings):
    if not settings.REDIS_URL:
        pytest.skip("unacknowledged deliveries are Redis's (set REDIS_URL); the filesystem broker has none")
    # given a submission's message taken, and not acknowledged, from another queue (Redis keeps the
    # unacknowledged deliveries of every queue in one hash)
    other = f"{queue}-other"
    submission = make_submission()
    settings.ATELIER_GPU_QUEUE = other
    sending.submission_send(submission_id=submission.pk)
    settings.ATELIER_GPU_QUEUE = queue
    with current_app.connection_for_write() as connection:
        taken = connection.SimpleQueue(other, no_ack=False)
        message = taken.get(timeout=10)
        try:
            # then it counts for its own queue only
            assert messages_held(other) == [submission.pk]
            assert messages_held(queue) == []
        finally:
            message.ack()
            taken.close()
            _purge(other)
