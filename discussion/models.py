"""A competition's discussion: topics and their replies, in Markdown.

Rules live in ``discussion.services`` (writes) and ``discussion.selectors`` (reads): who sees a
topic is who sees its competition; hidden posts are seen by the organizers only; a locked topic
takes no reply. Announcements are topics the organizers post; they are pinned above the others.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Topic(models.Model):
    competition = models.ForeignKey("competitions.Competition", on_delete=models.CASCADE, related_name="topics")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="discussion_topics")
    title = models.CharField(max_length=200)
    body = models.TextField(help_text="Markdown, sanitised as competition descriptions are.")
    is_announcement = models.BooleanField(default=False, help_text="Posted by an organizer; e-mailed to participants.")
    is_pinned = models.BooleanField(default=False, help_text="Shown above the other topics.")
    is_locked = models.BooleanField(default=False, help_text="Takes no more replies.")
    is_hidden = models.BooleanField(default=False, help_text="Hidden by an organizer: organizers only see it.")
    reply_count = models.PositiveIntegerField(default=0, help_text="Visible replies.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    last_activity_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-is_pinned", "-last_activity_at", "-id"]
        indexes = [
            models.Index(fields=["competition", "-is_pinned", "-last_activity_at"], name="topic_listing"),
            models.Index(fields=["author", "created_at"], name="topic_author_created"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(title=""), name="topic_title_not_empty"),
            models.CheckConstraint(condition=~Q(body=""), name="topic_body_not_empty"),
        ]

    def __str__(self) -> str:
        return self.title


class Reply(models.Model):
    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="replies")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="discussion_replies")
    body = models.TextField(help_text="Markdown, sanitised as competition descriptions are.")
    is_hidden = models.BooleanField(default=False, help_text="Hidden by an organizer: organizers only see it.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "replies"
        indexes = [models.Index(fields=["author", "created_at"], name="reply_author_created")]
        constraints = [models.CheckConstraint(condition=~Q(body=""), name="reply_body_not_empty")]

    def __str__(self) -> str:
        return f"Reply #{self.pk} to {self.topic_id}"
