"""A database blip (a PostgreSQL restart, a terminated backend) costs the worker seconds of retries on a
fresh connection, not the run's attempt: it still releases, fails or finishes the submission itself."""

from __future__ import annotations

import threading

import pytest
from django.db import OperationalError, connection

import scoring.worker.pipeline
import scoring.worker.scores
from gan_platform.storages import private_storage
from scoring.models import ReferenceStats
from scoring.worker.pipeline import submission_process_run
from submissions.models import Submission
from tests.scoring.conftest import checkpoint_bytes

pytestmark = [pytest.mark.django_db(transaction=True)]


def _failing_once(monkeypatch, name: str) -> list[str]:
    """Make ``scoring.worker.pipeline.<name>`` lose its connection on the first call, as after a restart."""
    original = getattr(scoring.worker.pipeline, name)
    calls: list[str] = []

    def flaky(**kwargs):
        calls.append(name)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return original(**kwargs)

    monkeypatch.setattr(scoring.worker.pipeline, name, flaky)
    return calls


def _pipeline_raising(monkeypatch, before=None) -> None:
    def pipeline(**kwargs):
        if before is not None:
            before()
        raise RuntimeError("object storage timed out")

    monkeypatch.setattr(scoring.worker.pipeline, "submission_pipeline", pipeline)


def test_a_release_that_loses_its_connection_is_retried_and_the_submission_requeued(make_submission, monkeypatch):
    # given a run that fails for the platform and a database that drops the connection of its release
    submission = make_submission()
    _pipeline_raising(monkeypatch)
    calls = _failing_once(monkeypatch, "submission_release_for_retry")

    # when the worker runs it
    outcome = submission_process_run(submission_id=submission.pk, worker="gpu@test")

    # then it released the submission on a fresh connection: back in the queue, no lease left to expire
    submission.refresh_from_db()
    assert outcome == "requeued"
    assert calls == ["submission_release_for_retry", "submission_release_for_retry"]
    assert (submission.state, submission.lease_token, submission.attempts) == (Submission.State.QUEUED, None, 1)
    assert "object storage timed out" in submission.failure_detail


def test_a_finish_that_loses_its_connection_is_retried_and_the_submission_scored(make_submission, monkeypatch):
    submission = make_submission()
    monkeypatch.setattr(scoring.worker.pipeline, "submission_pipeline", lambda **kwargs: [])
    calls = _failing_once(monkeypatch, "submission_finish")

    outcome = submission_process_run(submission_id=submission.pk, worker="gpu@test")

    submission.refresh_from_db()
    assert outcome == "scored"
    assert len(calls) == 2
    assert submission.state == Submission.State.SCORED


def test_a_database_down_longer_than_the_budget_leaves_the_submission_to_the_reconciler(
    make_submission, monkeypatch, settings
):
    settings.ATELIER_LEASE_SECONDS = 2  # a retry budget of 1 s
    submission = make_submission()
    _pipeline_raising(monkeypatch)

    def down(**kwargs):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(scoring.worker.pipeline, "submission_release_for_retry", down)

    assert submission_process_run(submission_id=submission.pk, worker="gpu@test") == "lease_expires"
    submission.refresh_from_db()
    assert submission.state == Submission.State.VALIDATING, "the lease expires and the reconciler takes it back"


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _terminate(pid: int) -> None:
    """Terminate backend ``pid`` from another connection (another thread), as the server does to every
    client when it restarts."""
    terminated: list[bool] = []

    def terminate() -> None:
        from django.db import connection as other

        try:
            with other.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
                terminated.append(bool(cursor.fetchone()[0]))
        finally:
            other.close()

    thread = threading.Thread(target=terminate)
    thread.start()
    thread.join()
    assert terminated == [True]


@pytest.fixture
def connection_drop():
    """``drop()`` loses this thread's database connection: on PostgreSQL its backend is terminated; on
    another database its next query fails as on a dropped connection. Returns the queries that failed."""
    failed: list[str] = []
    armed: list[bool] = []

    def failing_once(execute, sql, params, many, context):
        if armed:
            armed.clear()
            failed.append(sql)
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    def drop() -> None:
        if connection.vendor == "postgresql":
            pid = _backend_pid()
            _terminate(pid)
            failed.append(f"backend {pid} terminated")
        else:
            armed.append(True)

    drop.failed = failed
    with connection.execute_wrapper(failing_once):
        yield drop


def test_a_terminated_postgresql_backend_costs_seconds_not_an_attempt(make_submission, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL=postgres://...): pg_terminate_backend is what a restart does")
    submission = make_submission()
    worker_pid = _backend_pid()

    # given a run whose database connection is terminated before it releases the submission
    _pipeline_raising(monkeypatch, before=lambda: _terminate(worker_pid))

    # when the worker runs it
    outcome = submission_process_run(submission_id=submission.pk, worker="gpu@test")

    # then it reconnected and released it: queued again at attempt 1, not waiting for its lease to expire
    assert outcome == "requeued"
    assert _backend_pid() != worker_pid, "a fresh connection"
    submission.refresh_from_db()
    assert (submission.state, submission.lease_token, submission.attempts) == (Submission.State.QUEUED, None, 1)


@pytest.mark.slow
@pytest.mark.parametrize(
    "during",
    [
        "feature_network",  # loading the Inception network: the next query reads the stored reference statistics
        "reference_features",  # computing the reference statistics: the next query stores them
    ],
)
def test_a_connection_lost_while_scoring_costs_seconds_not_an_attempt(
    make_submission, monkeypatch, settings, connection_drop, during
):
    settings.ATELIER_SANDBOX_THREADS = 1
    settings.ATELIER_SCORING_BOOTSTRAP_RESAMPLES = 20
    submission = make_submission(checkpoint_bytes(seed=3))
    original = getattr(scoring.worker.scores, during)

    def dropping_after_the_first_call(*args, **kwargs):
        result = original(*args, **kwargs)
        if not connection_drop.failed:
            connection_drop()
        return result

    monkeypatch.setattr(scoring.worker.scores, during, dropping_after_the_first_call)

    # when the worker runs the submission and loses its connection while scoring it
    outcome = submission_process_run(submission_id=submission.pk, worker="gpu@test")

    # then the next read or write was repeated on a fresh connection and the run scored at its first attempt
    submission.refresh_from_db()
    assert len(connection_drop.failed) == 1
    assert outcome == "scored", (submission.failure_code, submission.failure_detail[-2000:])
    assert (submission.state, submission.attempts) == (Submission.State.SCORED, 1)
    assert submission.scores.filter(metric="fid").count() == 2, "public and private"
    # and the reference statistics were stored once, with their file
    stats = ReferenceStats.objects.filter(kind=ReferenceStats.Kind.REFERENCE)
    assert stats.count() == 1
    assert private_storage().exists(stats.get().file.name)
