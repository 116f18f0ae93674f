"""Services of submissions: create (participation, window, size, format, quota), cancel, final
selection, rerun, baselines."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.utils import timezone

from competitions.models import Phase
from gan_platform.errors import ApplicationError
from submissions import services
from submissions.models import Score, Submission
from submissions.selectors import quota_get
from tests.factories import user_create
from tests.submissions.helpers import (
    onnx_bytes,
    pickle_bytes,
    safetensors_bytes,
    scored_submission_create,
    stored_files,
    upload,
    zip_bytes,
)

pytestmark = pytest.mark.django_db


def create(phase, user, content: bytes | None = None, **kwargs) -> Submission:
    return services.submission_create(phase=phase, user=user, uploaded_file=upload(content), **kwargs)


def refusal(phase, user, content: bytes | None = None, **kwargs) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        create(phase, user, content, **kwargs)
    return caught.value


def set_phase(phase: Phase, **fields) -> Phase:
    Phase.objects.filter(pk=phase.pk).update(**fields)
    phase.refresh_from_db()
    return phase


class FrozenClock:
    """Patch ``django.utils.timezone.now`` (the services, selectors and ``auto_now_add`` read it)."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment
        self._patch = mock.patch("django.utils.timezone.now", side_effect=lambda: self.moment)

    def __enter__(self) -> FrozenClock:
        self._patch.start()
        return self

    def __exit__(self, *exc) -> None:
        self._patch.stop()


# --- create -----------------------------------------------------------------------------------


def test_submission_create_stores_the_file_hashes_it_and_queues_it_after_commit(
    phase, alice, alice_team, private_root, sent, django_capture_on_commit_callbacks
):
    # given a participant of an open phase
    with django_capture_on_commit_callbacks(execute=True):
        submission = create(phase, alice, description="  first try  ")
    # then the row is queued, hashed, sized, with the file in private storage, and the task was sent
    assert submission.state == Submission.State.QUEUED
    assert submission.team_id == alice_team.pk
    assert submission.format == "safetensors"
    data = safetensors_bytes()
    assert submission.sha256 == hashlib.sha256(data).hexdigest()
    assert submission.size == len(data)
    assert submission.description == "first try"
    assert submission.enqueued_at is not None
    assert stored_files(private_root) == [submission.file.name]
    assert (private_root / submission.file.name).read_bytes() == data
    assert sent == [submission.pk]


def test_the_task_is_not_sent_when_the_transaction_does_not_commit(phase, alice, alice_team, sent):
    # the db fixture's transaction never commits: on_commit callbacks never run
    create(phase, alice)
    assert sent == []


def test_submission_create_accepts_onnx_where_the_competition_does(phase, alice, alice_team):
    assert create(phase, alice, onnx_bytes()).format == "onnx"


def test_submission_create_refuses_a_format_the_competition_does_not_accept(competition, phase, alice, alice_team):
    competition.accepted_formats = ["safetensors"]
    competition.save(update_fields=["accepted_formats"])
    phase.refresh_from_db()
    error = refusal(phase, alice, onnx_bytes())
    assert error.code == "unsupported_format"
    assert "accepts only safetensors" in error.message


@pytest.mark.parametrize(
    ("content", "code"),
    [(pickle_bytes(), "unsupported_format"), (zip_bytes(), "unsupported_format"), (b"", "empty_file")],
    ids=["pickle", "zip", "empty"],
)
def test_submission_create_refuses_by_content_and_leaves_no_file_and_no_row(
    phase, alice, alice_team, private_root, content, code
):
    error = refusal(phase, alice, content)
    assert error.code == code
    assert Submission.objects.count() == 0
    assert stored_files(private_root) == []


def test_submission_create_refuses_a_file_over_the_phase_limit(phase, alice, alice_team, private_root):
    set_phase(phase, upload_size_limit=64)
    error = refusal(phase, alice)
    assert (error.code, error.status) == ("file_too_large", 413)
    assert "at most 64 bytes" in error.message
    assert stored_files(private_root) == []


def test_submission_create_requires_joining(phase, bob):
    error = refusal(phase, bob)
    assert (error.code, error.status) == ("not_joined", 403)
    assert "join" in error.message


def test_submission_create_refuses_anonymous_users(phase):
    from django.contrib.auth.models import AnonymousUser

    assert refusal(phase, AnonymousUser()).code == "not_authenticated"


def test_submission_create_refuses_before_the_phase_opens_and_after_it_closes(phase, alice, alice_team):
    now = timezone.now()
    set_phase(phase, starts_at=now + timedelta(hours=1), ends_at=now + timedelta(days=1))
    early = refusal(phase, alice)
    assert early.code == "phase_closed" and "opens at" in early.message
    set_phase(phase, starts_at=now - timedelta(days=2), ends_at=now - timedelta(seconds=1))
    late = refusal(phase, alice)
    assert late.code == "phase_closed" and "closed at" in late.message


def test_organizers_may_submit_baselines_any_time_without_team_or_quota(phase, organizer, alice):
    set_phase(phase, ends_at=timezone.now() - timedelta(seconds=1), starts_at=timezone.now() - timedelta(days=3))
    set_phase(phase, daily_quota=0)
    baseline = create(phase, organizer, is_baseline=True, description="identity")
    assert baseline.is_baseline and baseline.team is None
    assert baseline.state == Submission.State.QUEUED


def test_participants_may_not_submit_baselines(phase, alice, alice_team):
    error = refusal(phase, alice, is_baseline=True)
    assert (error.code, error.status) == ("permission_denied", 403)


def test_a_refusal_after_the_file_was_stored_removes_it(phase, alice, alice_team, private_root):
    # given a failure after the file was written (the row cannot be saved)
    with mock.patch.object(Submission, "save", side_effect=RuntimeError("database went away")):
        with pytest.raises(RuntimeError):
            create(phase, alice)
    # then no file is left behind
    assert stored_files(private_root) == []
    assert Submission.objects.count() == 0


# --- quota ------------------------------------------------------------------------------------


def test_the_daily_quota_refuses_the_next_submission_and_says_when_it_resets(phase, alice, alice_team):
    set_phase(phase, daily_quota=2, max_running=10)
    moment = datetime(2030, 1, 10, 15, 30, tzinfo=UTC)
    set_phase(phase, starts_at=moment - timedelta(days=5), ends_at=moment + timedelta(days=5))
    with FrozenClock(moment):
        create(phase, alice)
        create(phase, alice)
        error = refusal(phase, alice)
    assert (error.code, error.status) == ("quota_exceeded", 429)
    assert "2030-01-11T00:00:00Z" in error.message
    assert error.extra["resets_at"] == "2030-01-11T00:00:00Z"


def test_the_daily_quota_resets_at_midnight_utc(phase, alice, alice_team):
    set_phase(phase, daily_quota=1, max_running=10)
    before_midnight = datetime(2030, 1, 10, 23, 59, 59, 999000, tzinfo=UTC)
    set_phase(phase, starts_at=before_midnight - timedelta(days=5), ends_at=before_midnight + timedelta(days=5))
    clock = FrozenClock(before_midnight)
    with clock:
        create(phase, alice)
        assert refusal(phase, alice).code == "quota_exceeded"
        quota = quota_get(phase=phase, team=alice_team)
        assert (quota.used_today, quota.remaining_today, quota.resets_at) == (1, 0, "2030-01-11T00:00:00Z")
        # when the clock passes 00:00 UTC
        clock.moment = datetime(2030, 1, 11, 0, 0, 0, tzinfo=UTC)
        quota = quota_get(phase=phase, team=alice_team)
        assert (quota.used_today, quota.remaining_today, quota.resets_at) == (0, 1, "2030-01-12T00:00:00Z")
        # then a new submission is accepted
        assert create(phase, alice).state == Submission.State.QUEUED
        assert refusal(phase, alice).code == "quota_exceeded"


def test_the_total_quota_refuses_across_days_and_does_not_reset(phase, alice, alice_team):
    set_phase(phase, daily_quota=5, total_quota=2, max_running=10)
    day = datetime(2030, 3, 1, 12, tzinfo=UTC)
    set_phase(phase, starts_at=day - timedelta(days=5), ends_at=day + timedelta(days=5))
    clock = FrozenClock(day)
    with clock:
        create(phase, alice)
        clock.moment = day + timedelta(days=1)
        create(phase, alice)
        clock.moment = day + timedelta(days=2)
        error = refusal(phase, alice)
        quota = quota_get(phase=phase, team=alice_team)
    assert error.code == "quota_exceeded"
    assert "total quota of 2" in error.message and "does not reset" in error.message
    assert error.extra["resets_at"] is None
    assert (quota.used_total, quota.remaining_total, quota.remaining_today) == (2, 0, 0)


def test_quotas_count_per_team_not_per_member(competition, phase, alice, alice_team):
    from tests.factories import participant_join

    # given carol in alice's team
    set_phase(phase, daily_quota=1, max_running=10)
    carol = user_create("carol")
    participation = participant_join(competition, carol)
    participation.team = alice_team
    participation.save(update_fields=["team"])
    create(phase, alice)
    # then carol's submission counts against the same quota
    assert refusal(phase, carol).code == "quota_exceeded"


def test_a_failure_caused_by_the_platform_does_not_count_against_the_quota(phase, alice, alice_team):
    set_phase(phase, daily_quota=1, max_running=10)
    first = create(phase, alice)
    # given the pipeline failed it through no fault of the participant (as the scoring app does)
    Submission.objects.filter(pk=first.pk).update(
        state=Submission.State.FAILED, failure_code="infrastructure_error", counts_against_quota=False
    )
    assert quota_get(phase=phase, team=alice_team).used_today == 0
    assert create(phase, alice).state == Submission.State.QUEUED


def test_a_failure_caused_by_the_participant_counts(phase, alice, alice_team):
    set_phase(phase, daily_quota=1, max_running=10)
    first = create(phase, alice)
    Submission.objects.filter(pk=first.pk).update(state=Submission.State.FAILED, failure_code="bad_output")
    assert refusal(phase, alice).code == "quota_exceeded"


def test_a_submission_cancelled_before_it_started_does_not_count_but_one_cancelled_while_running_does(
    phase, alice, alice_team
):
    set_phase(phase, daily_quota=2, max_running=10)
    queued = create(phase, alice)
    services.submission_cancel(submission=queued, user=alice)
    assert quota_get(phase=phase, team=alice_team).used_today == 0
    started = create(phase, alice)
    Submission.objects.filter(pk=started.pk).update(started_at=timezone.now())
    services.submission_cancel(submission=started, user=alice)
    assert quota_get(phase=phase, team=alice_team).used_today == 1


def test_max_running_bounds_unfinished_submissions(phase, alice, alice_team):
    set_phase(phase, daily_quota=10, max_running=2)
    first = create(phase, alice)
    create(phase, alice)
    error = refusal(phase, alice)
    assert (error.code, error.status) == ("too_many_running", 429)
    assert quota_get(phase=phase, team=alice_team).running == 2
    # when one finishes, there is room again
    Submission.objects.filter(pk=first.pk).update(state=Submission.State.SCORED)
    assert create(phase, alice).state == Submission.State.QUEUED


# --- cancel -----------------------------------------------------------------------------------


def test_cancel_marks_a_running_submission_cancelled_and_clears_its_lease(phase, alice, alice_team):
    import uuid

    submission = create(phase, alice)
    token = uuid.uuid4()
    Submission.objects.filter(pk=submission.pk).update(
        state=Submission.State.GENERATING, lease_token=token, started_at=timezone.now()
    )
    cancelled = services.submission_cancel(submission=submission, user=alice)
    assert cancelled.state == Submission.State.CANCELLED
    assert cancelled.lease_token is None and cancelled.finished_at is not None
    # a worker's heartbeat under the old token finds nothing to extend
    assert not Submission.objects.filter(pk=submission.pk, lease_token=token).exists()


def test_cancel_refuses_a_finished_submission(phase, alice, alice_team):
    submission = create(phase, alice)
    Submission.objects.filter(pk=submission.pk).update(state=Submission.State.SCORED)
    error = pytest.raises(ApplicationError, services.submission_cancel, submission=submission, user=alice).value
    assert (error.code, error.status) == ("not_cancellable", 409)
    assert "scored" in error.message


def test_another_team_may_not_cancel(phase, alice, alice_team, bob, bob_team):
    submission = create(phase, alice)
    error = pytest.raises(ApplicationError, services.submission_cancel, submission=submission, user=bob).value
    assert error.code == "permission_denied"
    submission.refresh_from_db()
    assert submission.state == Submission.State.QUEUED


# --- final selection --------------------------------------------------------------------------


def test_final_selection_respects_the_phase_limit(phase, alice, alice_team):
    set_phase(phase, final_selection_limit=1)
    first = scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 1.0})
    second = scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 2.0})
    assert services.submission_select_final(submission=first, user=alice, selected=True).is_final
    error = pytest.raises(
        ApplicationError, services.submission_select_final, submission=second, user=alice, selected=True
    ).value
    assert (error.code, error.status) == ("final_selection_limit", 409)
    # unselecting the first makes room
    assert not services.submission_select_final(submission=first, user=alice, selected=False).is_final
    assert services.submission_select_final(submission=second, user=alice, selected=True).is_final


def test_final_selection_needs_a_scored_submission_an_open_phase_and_a_phase_with_selection(phase, alice, alice_team):
    set_phase(phase, final_selection_limit=0)
    scored = scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 1.0})
    assert (
        pytest.raises(
            ApplicationError, services.submission_select_final, submission=scored, user=alice, selected=True
        ).value.code
        == "final_selection_limit"
    )
    set_phase(phase, final_selection_limit=2)
    queued = create(phase, alice)
    assert (
        pytest.raises(
            ApplicationError, services.submission_select_final, submission=queued, user=alice, selected=True
        ).value.code
        == "validation_error"
    )
    set_phase(phase, starts_at=timezone.now() - timedelta(days=3), ends_at=timezone.now() - timedelta(seconds=1))
    scored.refresh_from_db()
    assert (
        pytest.raises(
            ApplicationError, services.submission_select_final, submission=scored, user=alice, selected=True
        ).value.code
        == "phase_closed"
    )


def test_only_team_members_select_finals(phase, alice, alice_team, bob, bob_team):
    set_phase(phase, final_selection_limit=1)
    scored = scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 1.0})
    error = pytest.raises(
        ApplicationError, services.submission_select_final, submission=scored, user=bob, selected=True
    ).value
    assert error.code == "permission_denied"


# --- rerun, baselines -------------------------------------------------------------------------


def test_rerun_resets_a_finished_submission_to_queued_deletes_its_scores_and_sends_it(
    phase, organizer, alice, alice_team, sent, django_capture_on_commit_callbacks
):
    scored = scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 1.0})
    Submission.objects.filter(pk=scored.pk).update(attempts=2, failure_code="x", finished_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        rerun = services.submission_rerun(submission=scored, user=organizer)
    assert rerun.state == Submission.State.QUEUED
    assert (rerun.attempts, rerun.failure_code, rerun.finished_at) == (0, "", None)
    assert not Score.objects.filter(submission=scored).exists()
    assert sent == [scored.pk]


def test_rerun_is_for_organizers_and_finished_submissions(phase, organizer, alice, alice_team):
    queued = create(phase, alice)
    assert (
        pytest.raises(ApplicationError, services.submission_rerun, submission=queued, user=alice).value.code
        == "permission_denied"
    )
    error = pytest.raises(ApplicationError, services.submission_rerun, submission=queued, user=organizer).value
    assert error.status == 409 and "only finished submissions" in error.message


def test_marking_a_baseline_is_for_organizers_and_a_teamless_baseline_stays_one(phase, organizer, alice, alice_team):
    scored = scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 1.0}, is_final=True)
    assert (
        pytest.raises(
            ApplicationError, services.submission_baseline_set, submission=scored, user=alice, is_baseline=True
        ).value.code
        == "permission_denied"
    )
    marked = services.submission_baseline_set(submission=scored, user=organizer, is_baseline=True)
    assert marked.is_baseline and not marked.is_final
    assert not services.submission_baseline_set(submission=scored, user=organizer, is_baseline=False).is_baseline
    teamless = scored_submission_create(phase=phase, team=None, user=organizer, public={"fid": 1.0}, is_baseline=True)
    error = pytest.raises(
        ApplicationError, services.submission_baseline_set, submission=teamless, user=organizer, is_baseline=False
    ).value
    assert error.code == "validation_error"
