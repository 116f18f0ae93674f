"""The discussion through the REST API: who sees it, who posts, Markdown, moderation, pages, throttling."""

from __future__ import annotations

import json

import pytest

from competitions.models import Competition
from discussion.models import Reply, Topic
from tests.factories import user_create

pytestmark = pytest.mark.django_db

TOPICS = "/api/v1/competitions/wood/topics/"


def post_topic(client, title="Which batch size?", body="Does **anyone** know?", **extra):
    return client.post(f"{TOPICS}create/", {"title": title, "body": body, **extra}, format="json")


def test_a_participant_opens_a_topic_and_another_replies(client_for, alice, alice_team, bob, bob_team, notify_sent):
    # given two participants
    # when alice opens a topic and bob replies
    created = post_topic(client_for(alice))
    assert created.status_code == 201, created.content
    topic_id = created.json()["id"]
    replied = client_for(bob).post(f"{TOPICS}{topic_id}/reply/", {"body": "Try *8*."}, format="json")
    assert replied.status_code == 201, replied.content

    # then anyone who sees the competition reads both, the reply rendered as HTML
    listing = client_for(None).get(TOPICS).json()
    assert [(row["title"], row["reply_count"], row["author"]["username"]) for row in listing["results"]] == [
        ("Which batch size?", 1, "alice")
    ]
    detail = client_for(None).get(f"{TOPICS}{topic_id}/").json()
    assert detail["topic"]["body_html"] == "<p>Does <strong>anyone</strong> know?</p>"
    assert [(reply["author"]["username"], reply["body_html"]) for reply in detail["replies"]] == [
        ("bob", "<p>Try <em>8</em>.</p>")
    ]
    assert notify_sent == [], "an ordinary topic e-mails nobody"


def test_markdown_is_sanitised_as_descriptions_are(client_for, alice, alice_team):
    body = 'Hello <script>alert("x")</script> [click](javascript:alert(1)) <img src=x onerror=alert(2)> **ok**'
    created = post_topic(client_for(alice), body=body).json()
    reply = client_for(alice).post(f"{TOPICS}{created['id']}/reply/", {"body": body}, format="json").json()
    for html in (created["body_html"], reply["body_html"]):
        assert "<script" not in html and "javascript:" not in html and "<img" not in html and "onerror" not in html
        assert "<strong>ok</strong>" in html
    assert created["body"] == body, "the Markdown is kept as written"


def test_visitors_read_but_only_participants_and_organizers_post(client_for, organizer, alice, alice_team, bob):
    anonymous = post_topic(client_for(None))
    assert anonymous.status_code == 401
    outsider = post_topic(client_for(bob))
    assert outsider.status_code == 403
    assert outsider.json()["error"]["code"] == "not_participant"
    assert "Join" in outsider.json()["error"]["message"]
    assert post_topic(client_for(organizer)).status_code == 201
    assert post_topic(client_for(alice)).status_code == 201
    assert Topic.objects.count() == 2


@pytest.mark.parametrize("visibility", ["draft", "unlisted"])
def test_the_discussion_is_visible_to_exactly_whom_the_competition_is(
    client_for, competition, organizer, alice, visibility
):
    post_topic(client_for(organizer))
    Competition.objects.filter(pk=competition.pk).update(visibility=visibility)
    stranger = user_create("stranger")
    expected = 404 if visibility == "draft" else 200
    assert client_for(None).get(TOPICS).status_code == expected
    assert client_for(stranger).get(TOPICS).status_code == expected
    topic_id = Topic.objects.get().pk
    assert client_for(stranger).get(f"{TOPICS}{topic_id}/").status_code == expected
    assert client_for(organizer).get(TOPICS).json()["count"] == 1


def test_a_topic_of_another_competition_is_not_found_here(client_for, organizer, alice, alice_team):
    from tests.factories import competition_create_for_tests

    other = competition_create_for_tests(slug="other", organizer=organizer, style_images=0, content_images=0)
    topic = Topic.objects.create(competition=other, author=organizer, title="Elsewhere", body="x")
    assert client_for(alice).get(f"{TOPICS}{topic.pk}/").status_code == 404
    assert client_for(alice).post(f"{TOPICS}{topic.pk}/reply/", {"body": "x"}, format="json").status_code == 404


def test_organizers_hide_a_topic_from_everyone_else(client_for, organizer, alice, alice_team, bob, bob_team):
    topic_id = post_topic(client_for(alice)).json()["id"]

    refused = client_for(bob).post(f"{TOPICS}{topic_id}/moderate/", {"hidden": True}, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"

    hidden = client_for(organizer).post(f"{TOPICS}{topic_id}/moderate/", {"hidden": True}, format="json")
    assert hidden.status_code == 200 and hidden.json()["is_hidden"] is True

    assert client_for(bob).get(TOPICS).json()["results"] == []
    assert client_for(alice).get(f"{TOPICS}{topic_id}/").status_code == 404, "hidden from its author too"
    assert client_for(bob).post(f"{TOPICS}{topic_id}/reply/", {"body": "x"}, format="json").status_code == 404
    assert [row["is_hidden"] for row in client_for(organizer).get(TOPICS).json()["results"]] == [True]


def test_a_locked_topic_takes_no_reply(client_for, organizer, alice, alice_team):
    topic_id = post_topic(client_for(alice)).json()["id"]
    locked = client_for(organizer).post(f"{TOPICS}{topic_id}/moderate/", {"locked": True}, format="json")
    assert locked.json()["is_locked"] is True

    refused = client_for(alice).post(f"{TOPICS}{topic_id}/reply/", {"body": "But..."}, format="json")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "topic_locked"
    assert "locked" in refused.json()["error"]["message"]
    assert not Reply.objects.exists()

    client_for(organizer).post(f"{TOPICS}{topic_id}/moderate/", {"locked": False}, format="json")
    assert client_for(alice).post(f"{TOPICS}{topic_id}/reply/", {"body": "Thanks"}, format="json").status_code == 201


def test_organizers_hide_a_reply_and_the_count_follows(client_for, organizer, alice, alice_team, bob, bob_team):
    topic_id = post_topic(client_for(alice)).json()["id"]
    spam = client_for(bob).post(f"{TOPICS}{topic_id}/reply/", {"body": "Buy now"}, format="json").json()
    client_for(alice).post(f"{TOPICS}{topic_id}/reply/", {"body": "Real answer"}, format="json")

    assert (
        client_for(bob)
        .post(f"/api/v1/competitions/wood/replies/{spam['id']}/moderate/", {"hidden": True}, format="json")
        .status_code
        == 403
    )
    moderated = client_for(organizer).post(
        f"/api/v1/competitions/wood/replies/{spam['id']}/moderate/", {"hidden": True}, format="json"
    )
    assert moderated.status_code == 200 and moderated.json()["is_hidden"] is True

    seen_by_alice = client_for(alice).get(f"{TOPICS}{topic_id}/").json()
    assert [reply["body"] for reply in seen_by_alice["replies"]] == ["Real answer"]
    assert seen_by_alice["topic"]["reply_count"] == 1
    seen_by_organizer = client_for(organizer).get(f"{TOPICS}{topic_id}/").json()
    assert [(reply["body"], reply["is_hidden"]) for reply in seen_by_organizer["replies"]] == [
        ("Buy now", True),
        ("Real answer", False),
    ]


def test_announcements_are_for_organizers_pinned_on_top_and_emailed_after_commit(
    client_for, organizer, alice, alice_team, notify_sent, django_capture_on_commit_callbacks
):
    refused = post_topic(client_for(alice), announcement=True)
    assert refused.status_code == 403
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        older = post_topic(client_for(organizer), title="Welcome", body="Read the rules.", announcement=True).json()
    assert notify_sent == [], "nothing is sent before the commit"
    for callback in callbacks:
        callback()
    assert notify_sent == [("notifications.announcement_posted", [older["id"]])]
    post_topic(client_for(alice), title="A newer question")

    listing = client_for(alice).get(TOPICS).json()["results"]
    assert [(row["title"], row["is_announcement"], row["is_pinned"]) for row in listing] == [
        ("Welcome", True, True),
        ("A newer question", False, False),
    ]


def test_topics_and_replies_come_a_page_at_a_time(client_for, organizer, alice, alice_team, settings):
    settings.ATELIER_DISCUSSION_POST_LIMIT = 1000
    for index in range(23):
        Topic.objects.create(competition_id=alice_team.competition_id, author=alice, title=f"Topic {index}", body="x")
    first = client_for(alice).get(TOPICS).json()
    second = client_for(alice).get(f"{TOPICS}?page=2").json()
    assert (first["page"], first["pages"], first["count"], len(first["results"])) == (1, 2, 23, 20)
    assert len(second["results"]) == 3
    assert {row["title"] for row in first["results"]}.isdisjoint({row["title"] for row in second["results"]})
    missing = client_for(alice).get(f"{TOPICS}?page=3")
    assert missing.status_code == 404 and "2 page" in missing.json()["error"]["message"]
    bad = client_for(alice).get(f"{TOPICS}?page=zero")
    assert bad.status_code == 400 and bad.json()["error"]["fields"] == {"page": ["A whole number from 1."]}

    topic = Topic.objects.order_by("pk").first()
    Reply.objects.bulk_create([Reply(topic=topic, author=alice, body=f"reply {index}") for index in range(21)])
    replies = client_for(alice).get(f"{TOPICS}{topic.pk}/?page=2").json()
    assert (replies["pages"], replies["count"], [reply["body"] for reply in replies["replies"]]) == (
        2,
        21,
        ["reply 20"],
    )


def test_posting_is_throttled_per_user_with_a_retry_time(client_for, alice, alice_team, settings):
    settings.ATELIER_DISCUSSION_POST_LIMIT = 2
    topic_id = post_topic(client_for(alice)).json()["id"]
    assert client_for(alice).post(f"{TOPICS}{topic_id}/reply/", {"body": "one"}, format="json").status_code == 201

    refused = client_for(alice).post(f"{TOPICS}{topic_id}/reply/", {"body": "two"}, format="json")
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "throttled"
    assert "the most allowed (2)" in error["message"] and "Try again in" in error["message"]
    assert 3500 <= int(refused["Retry-After"]) <= 3600 and error["wait"] == int(refused["Retry-After"])
    assert post_topic(client_for(alice)).status_code == 429
    assert Topic.objects.count() == 1 and Reply.objects.count() == 1


def test_an_empty_title_or_body_is_refused_by_name(client_for, alice, alice_team):
    response = post_topic(client_for(alice), title="   ", body="x")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"title": ["This field may not be blank."]}
    assert not Topic.objects.exists()


def test_the_schema_describes_the_discussion(client):
    schema = json.loads(client.get("/api/v1/schema/?format=json").content)
    operations = {(path, method) for path, item in schema["paths"].items() for method in item}
    assert {
        ("/api/v1/competitions/{slug}/topics/", "get"),
        ("/api/v1/competitions/{slug}/topics/create/", "post"),
        ("/api/v1/competitions/{slug}/topics/{topic_id}/", "get"),
        ("/api/v1/competitions/{slug}/topics/{topic_id}/reply/", "post"),
        ("/api/v1/competitions/{slug}/topics/{topic_id}/moderate/", "post"),
        ("/api/v1/competitions/{slug}/replies/{reply_id}/moderate/", "post"),
        ("/api/v1/notifications/settings/", "get"),
        ("/api/v1/notifications/settings/update/", "post"),
        ("/api/v1/competitions/{slug}/webhooks/", "get"),
        ("/api/v1/competitions/{slug}/webhooks/create/", "post"),
        ("/api/v1/competitions/{slug}/webhooks/{webhook_id}/deliveries/", "get"),
    } <= operations
