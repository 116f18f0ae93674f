"""Pages of the notifications app: your e-mail settings; a competition's webhooks and their
delivery log (organizers). The dashboard shows the latest deliveries too (the template tag
``notifications.templatetags.webhooks``)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from competitions.shortcuts import organized_or_http404
from gan_platform.errors import ApplicationError
from notifications import selectors, services, webhooks
from notifications.models import NotificationPreference, Webhook

LABELS = {
    "submission_scored": "When one of my submissions is scored (with its public score)",
    "submission_failed": "When one of my submissions fails (with the reason)",
    "announcements": "Announcements of the competitions I joined",
}


@login_required
def notification_settings(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        services.preference_update(
            user=request.user, **{kind: request.POST.get(kind) == "on" for kind in NotificationPreference.KINDS}
        )
        messages.success(request, "Your e-mail settings are saved.")
        return redirect("notifications:settings")
    preference = services.preference_get(user=request.user)
    kinds = [(kind, LABELS[kind], getattr(preference, kind)) for kind in NotificationPreference.KINDS]
    return render(request, "notifications/settings.html", {"kinds": kinds, "email": request.user.email})


@login_required
def webhook_list(request: HttpRequest, slug: str) -> HttpResponse:
    competition = organized_or_http404(request, slug)
    form = {"url": "", "payload_format": "json"}
    status = 200
    if request.method == "POST":
        form = {"url": request.POST.get("url", ""), "payload_format": request.POST.get("payload_format", "json")}
        try:
            webhooks.webhook_create(competition=competition, user=request.user, **form)
        except ApplicationError as error:
            messages.error(request, error.message)
            status = error.status
        else:
            messages.success(request, "The webhook is added. Verify each request's signature with its secret.")
            return redirect("notifications:webhooks", slug=slug)
    context = {
        "competition": competition,
        "webhooks": list(selectors.webhook_list(competition=competition, user=request.user)),
        "deliveries": selectors.delivery_list(competition=competition, user=request.user, limit=100),
        "formats": Webhook.PayloadFormat.choices,
        "events": Webhook.EVENTS,
        "form": form,
    }
    return render(request, "notifications/webhooks.html", context, status=status)


@login_required
@require_POST
def webhook_action(request: HttpRequest, slug: str, webhook_id: int, action: str) -> HttpResponse:
    competition = organized_or_http404(request, slug)
    webhook = selectors.webhook_get(competition=competition, webhook_id=webhook_id, user=request.user)
    if webhook is None or action not in ("delete", "rotate"):
        raise Http404("No such webhook or action.")
    if action == "delete":
        webhooks.webhook_delete(webhook=webhook, user=request.user)
        messages.success(request, f"The webhook to {webhook.url} is removed, with its delivery log.")
    else:
        webhooks.webhook_secret_rotate(webhook=webhook, user=request.user)
        messages.success(request, f"The webhook to {webhook.url} has a new secret; the old one no longer verifies.")
    return redirect("notifications:webhooks", slug=slug)
