"""A race of concurrent posts accepts exactly the quota (row lock on the team; SQLite: IMMEDIATE
transactions), on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection

from gan_platform.errors import ApplicationError
from submissions import services
from submissions.models import Submission
from tests.submissions.helpers import stored_files, upload

POSTS = 50


def post_at_once(phase, users, *, posts: int) -> Counter:
    """``posts`` threads, each with its own database connection, call ``submission_create`` at the same moment."""
    barrier = threading.Barrier(posts)
    outcomes: list[str] = []
    lock = threading.Lock()

    def post(index: int) -> None:
        user = users[index % len(users)]
        try:
            barrier.wait(timeout=60)
            services.submission_create(phase=phase, user=user, uploaded_file=upload())
            outcome = "accepted"
        except ApplicationError as error:
            outcome = error.code
        except Exception as error:  # reported, never swallowed: the assertion shows it
            outcome = f"{type(error).__name__}: {error}"
        finally:
            connection.close()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=post, args=(index,)) for index in range(posts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a posting thread hung"
    return Counter(outcomes)


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_posts_of_one_team_accept_exactly_the_daily_quota(
    competition, phase, alice, alice_team, private_root
):
    # given a daily quota of 3 and room for many running submissions
    type(phase).objects.filter(pk=phase.pk).update(daily_quota=3, max_running=POSTS)
    phase.refresh_from_db()
    # when 50 posts of the same team arrive at once
    outcomes = post_at_once(phase, [alice], posts=POSTS)
    # then exactly 3 are accepted and the rest refused for the quota, with no stray file
    assert outcomes == Counter({"accepted": 3, "quota_exceeded": POSTS - 3})
    assert Submission.objects.filter(team=alice_team).count() == 3
    assert len(stored_files(private_root)) == 3


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_of_team_members_respect_max_running(competition, phase, alice, alice_team, private_root):
    from tests.factories import participant_join, user_create

    # given two members of one team, a generous quota and at most 2 unfinished submissions
    carol = user_create("carol")
    participation = participant_join(competition, carol)
    participation.team = alice_team
    participation.save(update_fields=["team"])
    type(phase).objects.filter(pk=phase.pk).update(daily_quota=100, max_running=2)
    phase.refresh_from_db()
    # when both post 10 times at once
    outcomes = post_at_once(phase, [alice, carol], posts=20)
    # then exactly 2 are accepted
    assert outcomes == Counter({"accepted": 2, "too_many_running": 18})
    assert len(stored_files(private_root)) == 2
