from django.contrib import admin

from judging.models import GoldPair, JudgingConfig, Vote


@admin.register(JudgingConfig)
class JudgingConfigAdmin(admin.ModelAdmin):
    list_display = ("phase", "enabled", "voters", "votes_per_hour", "gold_policy", "fitted_at")
    filter_horizontal = ("raters",)
    readonly_fields = ("fitted_through", "fitted_at", "requested_at", "fit", "agreement")


@admin.register(GoldPair)
class GoldPairAdmin(admin.ModelAdmin):
    list_display = ("phase", "image", "submission_a", "submission_b", "answer")
    raw_id_fields = ("submission_a", "submission_b", "image")


@admin.register(Vote)
class VoteAdmin(admin.ModelAdmin):
    list_display = ("phase", "submission_a", "submission_b", "image", "choice", "created_at")
    list_filter = ("phase",)
    raw_id_fields = ("voter", "submission_a", "submission_b", "image", "gold")
