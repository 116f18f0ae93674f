from django.contrib import admin

from discussion.models import Reply, Topic


@admin.register(Topic)
class TopicAdmin(admin.ModelAdmin):
    list_display = (
        "title",
        "competition",
        "author",
        "is_announcement",
        "is_pinned",
        "is_locked",
        "is_hidden",
        "created_at",
    )
    list_filter = ("is_announcement", "is_pinned", "is_locked", "is_hidden")
    search_fields = ("title", "author__username", "competition__slug")
    raw_id_fields = ("competition", "author")


@admin.register(Reply)
class ReplyAdmin(admin.ModelAdmin):
    list_display = ("pk", "topic", "author", "is_hidden", "created_at")
    list_filter = ("is_hidden",)
    search_fields = ("body", "author__username")
    raw_id_fields = ("topic", "author")
