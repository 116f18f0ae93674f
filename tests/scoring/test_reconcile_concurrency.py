"""Two reconcilers at once (beat and a cron job, or two beats) never do anything twice."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from scoring.services import reconcile, submission_claim
from submissions.models import Submission
from tests.support.sending import sends_recorded

pytestmark = pytest.mark.django_db(transaction=True)


def run_concurrently(count: int, function) -> list:
    """Run ``function`` in ``count`` threads released together; return their results (re-raise errors)."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list[BaseException] = []

    def target(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = function()
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if errors:
        raise errors[0]
    return results


def test_two_reconcilers_at_once_send_each_lost_submission_once(make_submission, monkeypatch, settings):
    # given lost queued messages and expired leases of dead workers
    settings.ATELIER_RECONCILE_GRACE_SECONDS = 60
    long_ago = timezone.now() - timedelta(minutes=10)
    queued = [make_submission(enqueued_at=long_ago) for _ in range(4)] + [make_submission(enqueued_at=None)]
    running = [make_submission() for _ in range(3)]
    for submission in running:
        submission_claim(submission_id=submission.pk, worker="gpu@dead")
    Submission.objects.filter(pk__in=[s.pk for s in running]).update(lease_expires_at=long_ago)
    messages: list[int] = []
    lock = threading.Lock()

    def record(*, submission_id: int) -> None:
        with lock:
            messages.append(submission_id)

    monkeypatch.setattr("submissions.sending.submission_send", record)

    # when two reconcilers run at the same moment, twice over
    reports = run_concurrently(2, reconcile) + run_concurrently(2, reconcile)

    # then every lost submission was sent exactly once, and taken back exactly once
    expected = sorted(s.pk for s in queued + running)
    assert sorted(messages) == expected, f"messages {sorted(messages)} for submissions {expected}"
    resent = sorted(pk for report in reports for pk in report.resent)
    taken_back = sorted(pk for report in reports for pk in report.taken_back)
    assert resent == sorted(s.pk for s in queued)
    assert taken_back == sorted(s.pk for s in running)
    assert set(
        Submission.objects.filter(pk__in=expected).values_list("state", "lease_token", "attempts").distinct()
    ) <= {(Submission.State.QUEUED, None, 0), (Submission.State.QUEUED, None, 1)}


def test_manage_py_reconcile_prints_what_it_did(make_submission, monkeypatch, capsys):
    submission = make_submission(enqueued_at=None)
    messages = sends_recorded(monkeypatch, "submission_send", "submission_id")

    call_command("reconcile")

    assert messages == [submission.pk]
    output = capsys.readouterr().out
    assert f'"resent": [{submission.pk}]' in output
    assert '"taken_back": []' in output
