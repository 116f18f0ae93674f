"""Webhooks: signed JSON to a real receiver on loopback, retries with backoff, the delivery log, the
Slack payload, phase events and the SSRF guard."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from django.utils import timezone

from competitions.models import Phase
from notifications.models import PhaseEvent, Webhook, WebhookDelivery
from notifications.services import phase_events_record
from notifications.webhooks import retry_delay, webhook_create, webhook_delivery_attempt

pytestmark = pytest.mark.django_db

SCORES = [("public", "fid", 12.34567, None, None), ("private", "fid", 98.76543, None, None)]
WEBHOOKS = "/api/v1/competitions/wood/webhooks/"


def test_a_scored_submission_reaches_the_receiver_signed(
    competition, organizer, receiver, finish, tasks_run, django_capture_on_commit_callbacks
):
    webhook = webhook_create(competition=competition, user=organizer, url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        submission = finish(scores=SCORES)

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request["path"] == "/hooks/atelier"
    assert request["headers"]["X-Atelier-Event"] == "submission.scored"
    assert receiver.verified(webhook.secret) == [True]
    assert receiver.verified("another-secret") == [False], "the signature depends on the secret"
    payload = receiver.payloads()[0]
    assert payload["event"] == "submission.scored"
    assert payload["competition"]["slug"] == "wood"
    assert payload["submission"]["id"] == submission.pk and payload["submission"]["team"] == "alice"
    assert [(row["label"], row["display"]) for row in payload["submission"]["scores"]] == [("FID", "12.346")]
    assert "98.7" not in request["body"].decode(), "no private score in a payload"
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)


def test_a_failed_submission_sends_the_participant_message_only(
    competition, organizer, receiver, finish, tasks_run, django_capture_on_commit_callbacks
):
    webhook_create(competition=competition, user=organizer, url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        finish(fail=("bad_output", "Return 3 channels.", "secret path /srv/hidden/0042.png"))
    payload = receiver.payloads()[0]
    assert payload["event"] == "submission.failed"
    assert payload["submission"]["failure"] == {"code": "bad_output", "message": "Return 3 channels."}
    assert "hidden" not in receiver.requests[0]["body"].decode()


def test_a_receiver_that_fails_twice_gets_it_on_the_third_attempt(
    competition, organizer, receiver, finish, tasks_run, django_capture_on_commit_callbacks
):
    receiver.statuses = [500, 503]
    webhook = webhook_create(competition=competition, user=organizer, url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        finish(scores=SCORES)

    assert len(receiver.requests) == 3
    assert receiver.verified(webhook.secret) == [True, True, True], "each attempt is signed afresh"
    assert len({request["body"] for request in receiver.requests}) == 1, "the same payload each time"
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code, delivery.last_error) == (
        "delivered",
        3,
        200,
        "",
    )


def test_retries_back_off_exponentially_and_stop(competition, organizer, receiver, finish, tasks_run, settings):
    settings.ATELIER_WEBHOOK_RETRY_BASE_SECONDS = 30
    settings.ATELIER_WEBHOOK_MAX_ATTEMPTS = 3
    assert [retry_delay(attempt) for attempt in (1, 2, 3, 4, 10)] == [30, 60, 120, 240, 3600]
    receiver.statuses = [500, 500, 500, 500]
    webhook = webhook_create(competition=competition, user=organizer, url=receiver.url)
    delivery = WebhookDelivery.objects.create(webhook=webhook, event="phase.opened", event_key="k", payload={"a": 1})

    attempts = [webhook_delivery_attempt(delivery_id=delivery.pk) for _ in range(4)]

    assert [(attempt.status, attempt.retry_in) for attempt in attempts] == [
        ("pending", 30),
        ("pending", 60),
        ("failed", None),
        ("gone", None),
    ]
    assert len(receiver.requests) == 3
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 3, 500)
    assert delivery.last_error == "HTTP 500: receiver is down for maintenance"


def test_the_task_retries_on_the_default_queue_with_the_backoff_countdown(
    competition, organizer, receiver, settings, monkeypatch
):
    from notifications.tasks import webhook_deliver

    settings.ATELIER_WEBHOOK_RETRY_BASE_SECONDS = 30
    receiver.statuses = [502]
    webhook = webhook_create(competition=competition, user=organizer, url=receiver.url)
    delivery = WebhookDelivery.objects.create(webhook=webhook, event="phase.opened", event_key="k", payload={"a": 1})
    retried: list[dict] = []

    class Retry(Exception):
        pass

    def fake_retry(**options):
        retried.append(options)
        return Retry()

    monkeypatch.setattr(webhook_deliver, "retry", fake_retry)
    with pytest.raises(Retry):
        webhook_deliver.run(delivery.pk)
    assert retried == [{"countdown": 30, "queue": "default"}]


def test_the_delivery_log_is_on_the_dashboard_and_in_the_api(
    client, client_for, competition, organizer, alice, receiver, finish, tasks_run, django_capture_on_commit_callbacks
):
    receiver.statuses = [500] * 10
    webhook = webhook_create(competition=competition, user=organizer, url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        finish(scores=SCORES)

    deliveries = client_for(organizer).get(f"{WEBHOOKS}{webhook.pk}/deliveries/").json()
    assert [(row["event"], row["status"], row["attempts"], row["last_status_code"]) for row in deliveries] == [
        ("submission.scored", "failed", 6, 500)
    ]
    assert deliveries[0]["last_error"] == "HTTP 500: receiver is down for maintenance"
    delivery = WebhookDelivery.objects.get()
    assert deliveries[0] == {
        "id": delivery.pk,
        "webhook": webhook.pk,
        "event": "submission.scored",
        "status": "failed",
        "attempts": 6,
        "last_status_code": 500,
        "last_error": "HTTP 500: receiver is down for maintenance",
        "created_at": delivery.created_at.isoformat().replace("+00:00", "Z"),
        "last_attempt_at": delivery.last_attempt_at.isoformat().replace("+00:00", "Z"),
        "delivered_at": None,
    }

    client.force_login(organizer)
    page = client.get("/c/wood/organize/").content.decode()
    assert "Webhook deliveries" in page and "submission.scored" in page and "HTTP 500" in page and "Failed" in page
    assert client.get("/c/wood/organize/webhooks/").status_code == 200

    assert client_for(alice).get(f"{WEBHOOKS}{webhook.pk}/deliveries/").status_code == 403
    assert client_for(alice).get(WEBHOOKS).status_code == 403
    client.force_login(alice)
    assert client.get("/c/wood/organize/webhooks/").status_code == 404


def test_organizers_manage_webhooks_through_the_api(client_for, competition, organizer, alice):
    created = client_for(organizer).post(
        f"{WEBHOOKS}create/", {"url": "https://hooks.example.org/atelier", "payload_format": "slack"}, format="json"
    )
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["payload_format"] == "slack" and len(data["secret"]) >= 32
    assert data["events"] == ["submission.scored", "submission.failed", "phase.opened", "phase.closed"]
    webhook = Webhook.objects.get()
    assert data == {
        "id": webhook.pk,
        "url": "https://hooks.example.org/atelier",
        "payload_format": "slack",
        "secret": webhook.secret,
        "is_active": True,
        "events": list(Webhook.EVENTS),
        "created_at": webhook.created_at.isoformat().replace("+00:00", "Z"),
    }
    assert [row["url"] for row in client_for(organizer).get(WEBHOOKS).json()] == ["https://hooks.example.org/atelier"]
    assert (
        client_for(alice).post(f"{WEBHOOKS}create/", {"url": "https://x.example.org/"}, format="json").status_code
        == 403
    )
    deleted = client_for(organizer).post(f"{WEBHOOKS}{data['id']}/delete/")
    assert deleted.status_code == 204 and not Webhook.objects.exists()


def test_the_slack_payload_is_a_text(
    competition, organizer, receiver, finish, tasks_run, django_capture_on_commit_callbacks
):
    webhook_create(competition=competition, user=organizer, url=receiver.url, payload_format="slack")
    with django_capture_on_commit_callbacks(execute=True):
        submission = finish(scores=SCORES)
    payload = receiver.payloads()[0]
    assert list(payload) == ["text"]
    assert payload["text"].startswith(
        f"*Wood test competition*: submission <http://127.0.0.1:8000/submissions/{submission.pk}/|#{submission.pk}>"
    )
    assert payload["text"].endswith("by alice scored: FID 12.346.")


def test_phases_opening_and_closing_are_sent_once(
    competition, organizer, phase, receiver, tasks_run, django_capture_on_commit_callbacks
):
    webhook_create(competition=competition, user=organizer, url=receiver.url)
    now = timezone.now()
    Phase.objects.filter(pk=phase.pk).update(starts_at=now - timedelta(minutes=5), ends_at=now + timedelta(hours=1))

    with django_capture_on_commit_callbacks(execute=True):
        assert [event.kind for event in phase_events_record(now=now)] == ["opened"]
        assert phase_events_record(now=now) == [], "each event once"
    with django_capture_on_commit_callbacks(execute=True):
        assert [event.kind for event in phase_events_record(now=now + timedelta(hours=2))] == ["closed"]

    assert [payload["event"] for payload in receiver.payloads()] == ["phase.opened", "phase.closed"]
    assert receiver.payloads()[0]["phase"]["slug"] == "main"
    assert PhaseEvent.objects.count() == 2


def test_a_phase_that_ended_long_ago_is_not_announced(competition, organizer, phase, receiver, tasks_run):
    webhook_create(competition=competition, user=organizer, url=receiver.url)
    assert phase_events_record(now=timezone.now() + timedelta(days=30)) == []
    assert receiver.requests == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.org/x", "plain http"),
        ("ftp://hooks.example.org/x", "not an https"),
        ("https://user:pass@hooks.example.org/x", "no user name or password"),
        ("https://10.1.2.3/x", "private network"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://127.0.0.1:8443/x", "loopback"),
        ("https://localhost/x", "loopback"),
        ("https://[::1]/x", "loopback"),
        ("http://127.0.0.1:9000/x", "plain http"),
    ],
)
def test_production_refuses_destinations_that_are_not_public_https(competition, organizer, settings, url, reason):
    from gan_platform.errors import ApplicationError

    settings.ATELIER_WEBHOOK_ALLOW_LOOPBACK = False
    with pytest.raises(ApplicationError) as refused:
        webhook_create(competition=competition, user=organizer, url=url)
    assert reason in refused.value.message
    assert refused.value.extra["fields"]["url"]
    assert not Webhook.objects.exists()


def test_a_host_that_resolves_to_a_private_address_is_refused_at_delivery(
    competition, organizer, settings, monkeypatch
):
    settings.ATELIER_WEBHOOK_ALLOW_LOOPBACK = False
    webhook = webhook_create(competition=competition, user=organizer, url="https://rebind.example.org/hook")
    delivery = WebhookDelivery.objects.create(webhook=webhook, event="phase.opened", event_key="k", payload={})
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *args, **kwargs: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", 443))]
    )

    attempt = webhook_delivery_attempt(delivery_id=delivery.pk)

    assert (attempt.status, attempt.retry_in) == ("failed", None), "a refused destination is not retried"
    delivery.refresh_from_db()
    assert delivery.attempts == 1
    assert delivery.last_error.startswith("Refused destination: 'rebind.example.org' resolves to 10.0.0.7")


def test_development_and_tests_accept_a_loopback_http_receiver(competition, organizer, settings):
    settings.ATELIER_WEBHOOK_ALLOW_LOOPBACK = True
    assert webhook_create(competition=competition, user=organizer, url="http://127.0.0.1:9000/x").pk
    from gan_platform.errors import ApplicationError

    with pytest.raises(ApplicationError, match="private network"):
        webhook_create(competition=competition, user=organizer, url="https://192.168.1.20/x")


def test_a_delivery_whose_message_was_lost_is_sent_again_by_the_sweep(
    competition, organizer, receiver, tasks_run, django_capture_on_commit_callbacks
):
    from notifications.webhooks import webhook_deliveries_resume

    webhook = webhook_create(competition=competition, user=organizer, url=receiver.url)
    now = timezone.now()
    lost = WebhookDelivery.objects.create(webhook=webhook, event="phase.opened", event_key="lost", payload={"n": 1})
    waiting = WebhookDelivery.objects.create(webhook=webhook, event="phase.opened", event_key="wait", payload={"n": 2})
    WebhookDelivery.objects.filter(pk=lost.pk).update(attempts=2, last_attempt_at=now - timedelta(hours=2))
    WebhookDelivery.objects.filter(pk=waiting.pk).update(attempts=2, last_attempt_at=now - timedelta(minutes=30))

    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_deliveries_resume(now=now) == [lost.pk]
        assert webhook_deliveries_resume(now=now) == [], "touched: not twice"

    assert receiver.payloads() == [{"n": 1}]
    lost.refresh_from_db()
    assert (lost.status, lost.attempts) == ("delivered", 3)
