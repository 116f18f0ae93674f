"""The discussion pages: the tab, posting through the forms, refusals that keep what was typed."""

from __future__ import annotations

import pytest

from discussion.models import Reply, Topic

pytestmark = pytest.mark.django_db


def test_the_competition_pages_have_a_discussion_tab(client, competition):
    page = client.get("/c/wood/").content.decode()
    assert 'href="/c/wood/discussion/">Discussion</a>' in page


def test_a_participant_posts_a_topic_and_a_reply_through_the_forms(client, alice, alice_team):
    client.force_login(alice)
    posted = client.post("/c/wood/discussion/new/", {"title": "Hello", "body": "First **post**"}, follow=True)
    topic = Topic.objects.get()
    assert posted.redirect_chain[-1][0] == f"/c/wood/discussion/{topic.pk}/"
    assert "<strong>post</strong>" in posted.content.decode()
    replied = client.post(f"/c/wood/discussion/{topic.pk}/reply/", {"body": "Second"}, follow=True)
    assert "Your reply is posted." in replied.content.decode()
    assert Reply.objects.get().body == "Second"


def test_a_refused_reply_keeps_what_was_typed(client, alice, alice_team, settings):
    settings.ATELIER_DISCUSSION_POST_LIMIT = 1
    client.force_login(alice)
    client.post("/c/wood/discussion/new/", {"title": "Hello", "body": "x"})
    topic = Topic.objects.get()
    refused = client.post(f"/c/wood/discussion/{topic.pk}/reply/", {"body": "A long, careful answer"})
    assert refused.status_code == 429
    page = refused.content.decode()
    assert "the most allowed (1)" in page and "A long, careful answer</textarea>" in page
    assert not Reply.objects.exists()


def test_visitors_are_asked_to_join_before_posting(client, bob, competition):
    client.force_login(bob)
    page = client.get("/c/wood/discussion/").content.decode()
    assert "to post in the discussion" in page and "Post the topic" not in page
    refused = client.post("/c/wood/discussion/new/", {"title": "Hi", "body": "x"})
    assert refused.status_code == 403 and not Topic.objects.exists()


def test_only_organizers_moderate_through_the_pages(client, organizer, alice, alice_team):
    topic = Topic.objects.create(competition=alice_team.competition, author=alice, title="T", body="x")
    client.force_login(alice)
    client.post(f"/c/wood/discussion/{topic.pk}/moderate/", {"action": "hide"})
    assert Topic.objects.get().is_hidden is False
    client.force_login(organizer)
    client.post(f"/c/wood/discussion/{topic.pk}/moderate/", {"action": "lock"})
    assert Topic.objects.get().is_locked is True
