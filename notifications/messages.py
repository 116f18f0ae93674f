"""What a notification says: the public scores of a submission as the pages show them, the webhook
payloads (JSON and Slack text). Participant-visible facts only: the public split, shown metrics,
the participant-safe failure message (decision 0016)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse

from competitions.models import Competition, Phase
from gan_core.metrics.registry import METRICS as METRIC_REGISTRY
from notifications.models import Webhook
from submissions.models import Score, Submission


def site_url(path: str) -> str:
    return settings.ATELIER_SITE_URL.rstrip("/") + path


def _number(value: float | None, decimals: int) -> str:
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return "—"
    return f"{value:.{int(decimals)}f}"


def submission_public_scores(submission: Submission) -> list[dict[str, Any]]:
    """The submission's public-split scores of the shown metrics, ranking metric first, each with the
    metric registry's label and the phase's decimals (what the pages show)."""
    metrics = [metric for metric in submission.phase.metrics.all() if metric.shown]
    metrics.sort(key=lambda metric: (not metric.is_ranking, metric.order, metric.metric))
    scores = {score.metric: score for score in submission.scores.all() if score.split == Score.Split.PUBLIC}
    rows = []
    for metric in metrics:
        score = scores.get(metric.metric)
        if score is None:
            continue
        registered = METRIC_REGISTRY.get(metric.metric)
        interval = None
        if score.interval_low is not None and score.interval_high is not None:
            interval = [score.interval_low, score.interval_high]
        rows.append(
            {
                "metric": metric.metric,
                "label": registered.label if registered else metric.metric,
                "ranking": metric.is_ranking,
                "value": score.value,
                "decimals": metric.decimals,
                "display": _number(score.value, metric.decimals),
                "interval": interval,
                "interval_display": (
                    f"[{_number(interval[0], metric.decimals)}, {_number(interval[1], metric.decimals)}]"
                    if interval
                    else ""
                ),
                "calibrated": score.calibrated,
            }
        )
    return rows


def submission_load(submission_id: int) -> Submission | None:
    return (
        Submission.objects.select_related("phase__competition", "team", "submitted_by")
        .prefetch_related("scores", "phase__metrics")
        .filter(pk=submission_id)
        .first()
    )


def submission_event(submission: Submission) -> str:
    return "submission.scored" if submission.state == Submission.State.SCORED else "submission.failed"


def submission_key(submission: Submission) -> str:
    finished = submission.finished_at.isoformat() if submission.finished_at else "unfinished"
    return f"submission:{submission.pk}:{submission.state}:{finished}"


def competition_data(competition: Competition) -> dict[str, Any]:
    return {
        "slug": competition.slug,
        "title": competition.title,
        "url": site_url(reverse("competitions:detail", kwargs={"slug": competition.slug})),
    }


def phase_data(phase: Phase) -> dict[str, Any]:
    return {
        "slug": phase.slug,
        "name": phase.name,
        "starts_at": phase.starts_at.isoformat(),
        "ends_at": phase.ends_at.isoformat(),
    }


def submission_payload(submission: Submission) -> dict[str, Any]:
    """The JSON webhook payload of a scored or failed submission (participant-visible facts only)."""
    failed = submission.state == Submission.State.FAILED
    return {
        "event": submission_event(submission),
        "competition": competition_data(submission.phase.competition),
        "phase": phase_data(submission.phase),
        "submission": {
            "id": submission.pk,
            "url": site_url(reverse("submissions:detail", kwargs={"submission_id": submission.pk})),
            "team": submission.team.name if submission.team_id else None,
            "is_baseline": submission.is_baseline,
            "state": submission.state,
            "finished_at": submission.finished_at.isoformat() if submission.finished_at else None,
            "scores": []
            if failed
            else [
                {key: row[key] for key in ("metric", "label", "ranking", "value", "display", "interval")}
                for row in submission_public_scores(submission)
            ],
            "failure": {"code": submission.failure_code, "message": submission.failure_message} if failed else None,
        },
    }


def _slack_text(payload: dict[str, Any]) -> str:
    competition = payload["competition"]
    head = f"*{competition['title']}*"
    if payload["event"].startswith("phase."):
        phase = payload["phase"]
        verb = "opened" if payload["event"] == "phase.opened" else "closed"
        return f"{head}: phase {phase['name']} {verb}. <{competition['url']}|Open the competition>"
    submission = payload["submission"]
    who = submission["team"] or "a baseline"
    link = f"<{submission['url']}|#{submission['id']}>"
    if payload["event"] == "submission.scored":
        scores = ", ".join(f"{row['label']} {row['display']}" for row in submission["scores"]) or "no public score"
        return f"{head}: submission {link} by {who} scored: {scores}."
    failure = submission["failure"] or {}
    return f"{head}: submission {link} by {who} failed ({failure.get('code', '')}): {failure.get('message', '')}"


def body_for(webhook: Webhook, payload: dict[str, Any]) -> dict[str, Any]:
    if webhook.payload_format == Webhook.PayloadFormat.SLACK:
        return {"text": _slack_text(payload)}
    return payload
