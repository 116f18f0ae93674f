"""Human judging: per-phase rules, pairs served to voters, votes, gold pairs (decision 0017).

A voter is shown one public preview image and two submissions' outputs on it, anonymised and in
random order (an :class:`Assignment`, known to the voter only by a random token); a
:class:`Vote` stores the pair canonically (``submission_a`` has the lower id) with the choice
relative to it. The database holds the rules it can: one vote per voter, pair and image; a pair
is two different submissions; a gold pair's answer is one of three.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class JudgingConfig(models.Model):
    """The judging rules of one phase, set by its organizers, and the state of its ratings."""

    class Voters(models.TextChoices):
        LOGGED_IN = "logged_in", "Every logged-in user"
        PARTICIPANTS = "participants", "Participants of the competition"
        RATERS = "raters", "An invited rater group"

    class GoldPolicy(models.TextChoices):
        DROP = "drop", "Drop the votes of voters who fail gold pairs"
        DOWNWEIGHT = "downweight", "Down-weight them by their gold accuracy"
        OFF = "off", "Count every vote"

    phase = models.OneToOneField("competitions.Phase", on_delete=models.CASCADE, related_name="judging")
    enabled = models.BooleanField(default=False, help_text="Voters may vote on this phase's public board.")
    voters = models.CharField(max_length=16, choices=Voters.choices, default=Voters.PARTICIPANTS)
    raters = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="rater_phases", help_text="The invited rater group."
    )
    votes_per_hour = models.PositiveIntegerField(default=120, help_text="Votes one voter may cast per hour.")
    votes_per_day = models.PositiveIntegerField(default=1000, help_text="Votes one voter may cast per 24 hours.")
    gold_every = models.PositiveSmallIntegerField(
        default=10, help_text="One pair in this many served is a gold pair (when there are any); 0: never."
    )
    gold_policy = models.CharField(max_length=16, choices=GoldPolicy.choices, default=GoldPolicy.DROP)
    gold_min_answers = models.PositiveSmallIntegerField(
        default=3, help_text="Gold answers a voter gives before the policy applies to them."
    )
    gold_min_accuracy = models.FloatField(
        default=0.7, help_text="Drop: the share of gold answers a voter must get right."
    )

    fitted_through = models.BigIntegerField(default=0, help_text="The highest vote id the ratings include.")
    fitted_at = models.DateTimeField(null=True, blank=True)
    requested_at = models.DateTimeField(null=True, blank=True, help_text="When a recompute was last sent.")
    fit = models.JSONField(
        default=dict, blank=True, help_text="{submission id: [theta, variance, comparisons]} for pair selection."
    )
    agreement = models.JSONField(default=dict, blank=True, help_text="{metric: agreement with the human rating}.")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(gold_min_accuracy__gte=0) & Q(gold_min_accuracy__lte=1), name="judging_accuracy_in_0_1"
            ),
        ]

    def __str__(self) -> str:
        return f"judging of {self.phase}"


class Choice(models.TextChoices):
    A = "a", "The submission with the lower id"
    B = "b", "The submission with the higher id"
    TIE = "tie", "Equally good"


class GoldPair(models.Model):
    """An organizer-chosen pair with a known answer: served like any pair, it measures the voter."""

    phase = models.ForeignKey("competitions.Phase", on_delete=models.CASCADE, related_name="gold_pairs")
    image = models.ForeignKey("competitions.DatasetImage", on_delete=models.CASCADE, related_name="+")
    submission_a = models.ForeignKey("submissions.Submission", on_delete=models.CASCADE, related_name="+")
    submission_b = models.ForeignKey("submissions.Submission", on_delete=models.CASCADE, related_name="+")
    answer = models.CharField(max_length=3, choices=Choice.choices)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(submission_a__lt=F("submission_b")), name="gold_pair_ordered"),
            models.UniqueConstraint(fields=["phase", "image", "submission_a", "submission_b"], name="gold_pair_unique"),
        ]

    def __str__(self) -> str:
        return f"gold {self.submission_a_id}/{self.submission_b_id} on {self.image_id}: {self.answer}"


class Assignment(models.Model):
    """A pair served to a voter: the token is all the voter knows of it."""

    token = models.CharField(max_length=64, unique=True)
    phase = models.ForeignKey("competitions.Phase", on_delete=models.CASCADE, related_name="+")
    voter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    image = models.ForeignKey("competitions.DatasetImage", on_delete=models.CASCADE, related_name="+")
    left = models.ForeignKey("submissions.Submission", on_delete=models.CASCADE, related_name="+")
    right = models.ForeignKey("submissions.Submission", on_delete=models.CASCADE, related_name="+")
    gold = models.ForeignKey(GoldPair, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["voter", "created_at"], name="assignment_voter_created")]
        constraints = [models.CheckConstraint(condition=~Q(left=F("right")), name="assignment_two_submissions")]

    def __str__(self) -> str:
        return f"pair {self.left_id}/{self.right_id} on {self.image_id} for {self.voter_id}"


class Vote(models.Model):
    phase = models.ForeignKey("competitions.Phase", on_delete=models.CASCADE, related_name="votes")
    voter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="votes")
    image = models.ForeignKey("competitions.DatasetImage", on_delete=models.CASCADE, related_name="+")
    submission_a = models.ForeignKey("submissions.Submission", on_delete=models.CASCADE, related_name="+")
    submission_b = models.ForeignKey("submissions.Submission", on_delete=models.CASCADE, related_name="+")
    choice = models.CharField(max_length=3, choices=Choice.choices)
    a_was_left = models.BooleanField(help_text="Where submission_a was shown (position bias analysis).")
    gold = models.ForeignKey(GoldPair, on_delete=models.SET_NULL, null=True, blank=True, related_name="votes")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(submission_a__lt=F("submission_b")), name="vote_pair_ordered"),
            models.UniqueConstraint(
                fields=["voter", "submission_a", "submission_b", "image"], name="vote_once_per_pair_and_image"
            ),
        ]
        indexes = [models.Index(fields=["phase", "voter", "created_at"], name="vote_phase_voter_created")]

    def __str__(self) -> str:
        return f"{self.voter_id}: {self.submission_a_id} vs {self.submission_b_id} on {self.image_id} -> {self.choice}"
