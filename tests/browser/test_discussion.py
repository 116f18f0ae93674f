"""A participant opens a topic and an organizer moderates it, in a real browser; the new pages pass
the accessibility smoke check and keep their Content-Security-Policy."""

from __future__ import annotations

import pytest

from discussion.models import Reply, Topic
from tests.browser.inspection import accessibility_problems, screenshot
from tests.browser.login import log_in
from tests.browser.test_every_page import check, csp_violations  # noqa: F401 (fixture)
from tests.factories import competition_create_for_tests, participant_join, user_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_participant_posts_and_an_organizer_moderates(page, csp_violations):  # noqa: F811 (fixture)
    organizer = user_create("olga", is_staff=True)
    competition = competition_create_for_tests(
        slug="woodcuts", organizer=organizer, style_images=2, content_images=2, preview=1
    )
    participant_join(competition, user_create("alice"))
    participant_join(competition, user_create("bob"))

    # alice opens a topic from the Discussion tab, with Markdown and a script that must not run
    log_in(page, "alice")
    page.goto("/c/woodcuts/")
    page.get_by_role("navigation", name="Competition").get_by_role("link", name="Discussion").click()
    page.get_by_role("heading", name="Discussion", exact=True).wait_for()
    assert page.get_by_text("No topic yet.").is_visible()
    assert page.get_by_label("Announcement: pin it on top and e-mail it to the participants").count() == 0
    page.get_by_label("Title").fill("Which batch size works?")
    page.get_by_label("Message").fill("I use **8**.\n\n<script>window.pwned = 1</script>\n\n- one\n- two")
    page.get_by_role("button", name="Post the topic").click()
    page.get_by_role("heading", name="Which batch size works?").wait_for()
    assert page.get_by_text("Your topic is posted.").is_visible()
    body = page.locator("article.post .prose").first
    assert body.locator("strong").inner_text() == "8"
    assert body.locator("li").all_inner_texts() == ["one", "two"]
    assert body.locator("script").count() == 0 and page.evaluate("window.pwned") is None
    assert accessibility_problems(page) == []
    screenshot(page, "discussion-topic-participant")

    # bob replies
    page.context.clear_cookies()
    log_in(page, "bob")
    topic = Topic.objects.get()
    page.goto(f"/c/woodcuts/discussion/{topic.pk}/")
    page.get_by_label("Your reply").fill("Try *16* with a smaller learning rate.")
    page.get_by_role("button", name="Post the reply").click()
    page.get_by_text("Your reply is posted.").wait_for()
    assert page.locator("article.reply em").inner_text() == "16"

    # the organizer hides bob's reply, then locks the topic
    page.context.clear_cookies()
    log_in(page, "olga")
    page.goto(f"/c/woodcuts/discussion/{topic.pk}/")
    assert accessibility_problems(page) == []
    page.get_by_role("button", name="Hide the reply").click()
    page.get_by_text("The reply is hidden.").wait_for()
    assert page.locator("article.reply .badge-bad").inner_text() == "Hidden"
    page.get_by_role("button", name="Lock the topic").click()
    page.get_by_text("The topic is locked.").wait_for()
    assert page.get_by_text("This topic is locked by the organizers: it takes no more replies.").is_visible()
    assert page.get_by_role("button", name="Post the reply").count() == 0
    screenshot(page, "discussion-topic-organizer")
    assert Topic.objects.get().is_locked and Reply.objects.get().is_hidden

    # an announcement, pinned above the older topic
    page.goto("/c/woodcuts/discussion/")
    page.get_by_label("Title").fill("Phase 2 opens on Monday")
    page.get_by_label("Message").fill("Bring new ideas.")
    page.get_by_label("Announcement: pin it on top and e-mail it to the participants").check()
    page.get_by_role("button", name="Post the topic").click()
    page.get_by_text("Your announcement is posted.").wait_for()
    page.goto("/c/woodcuts/discussion/")
    assert page.locator(".topic-item h3").all_inner_texts() == ["Phase 2 opens on Monday", "Which batch size works?"]
    assert accessibility_problems(page) == []
    screenshot(page, "discussion-list-organizer")

    # alice sees the lock and no hidden reply; then the organizer hides the topic from her
    page.context.clear_cookies()
    log_in(page, "alice")
    page.goto(f"/c/woodcuts/discussion/{topic.pk}/")
    assert page.get_by_text("Try 16").count() == 0
    assert page.get_by_role("heading", name="Replies (0)").is_visible()
    assert page.get_by_text("This topic is locked by the organizers").is_visible()
    Topic.objects.filter(pk=topic.pk).update(is_hidden=True)
    assert page.goto(f"/c/woodcuts/discussion/{topic.pk}/").status == 404
    page.goto("/c/woodcuts/discussion/")
    assert page.locator(".topic-item h3").all_inner_texts() == ["Phase 2 opens on Monday"]
    assert csp_violations == []


def test_the_new_pages_are_accessible_and_keep_their_csp(page, csp_violations):  # noqa: F811 (fixture)
    organizer = user_create("olga", is_staff=True)
    competition = competition_create_for_tests(
        slug="woodcuts", organizer=organizer, style_images=2, content_images=2, preview=1
    )
    topic = Topic.objects.create(
        competition=competition,
        author=organizer,
        title="Welcome",
        body="Hello *all*.",
        is_announcement=True,
        is_pinned=True,
    )
    check(page, "/c/woodcuts/discussion/", "page-discussion-anonymous", csp_violations)
    check(page, f"/c/woodcuts/discussion/{topic.pk}/", "page-discussion-topic-anonymous", csp_violations)
    log_in(page, "olga")
    for url, name in [
        ("/notifications/", "notification-settings"),
        ("/c/woodcuts/organize/webhooks/", "organizer-webhooks"),
        ("/c/woodcuts/organize/", "organizer-dashboard-deliveries"),
    ]:
        check(page, url, f"page-{name}", csp_violations)
    page.goto("/c/woodcuts/organize/webhooks/")
    page.get_by_label("Endpoint URL").fill("http://hooks.example.org/x")
    page.get_by_role("button", name="Add the webhook").click()
    page.get_by_text("is plain http: use an https:// address").first.wait_for()
    page.get_by_label("Endpoint URL").fill("https://hooks.example.org/atelier")
    page.get_by_label("Payload").select_option("slack")
    page.get_by_role("button", name="Add the webhook").click()
    page.get_by_text("The webhook is added.").wait_for()
    assert page.locator("td.name").first.inner_text() == "https://hooks.example.org/atelier"
    assert accessibility_problems(page) == []
