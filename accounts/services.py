"""Writes of the accounts app."""

from django.contrib.auth import get_user_model
from django.db import transaction
from rest_framework.authtoken.models import Token


def user_sign_up(*, username: str, email: str, password: str):
    """Create a participant account (not staff)."""
    user_model = get_user_model()
    user = user_model(username=username, email=email)
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    return user


@transaction.atomic
def api_token_regenerate(*, user) -> Token:
    """Replace the user's API token: the old one stops working at once."""
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user)


def api_token_obtain(*, user) -> Token:
    """The user's API token, created on first use (the same key until it is regenerated or revoked)."""
    token, _ = Token.objects.get_or_create(user=user)
    return token


def api_token_revoke(*, user) -> bool:
    """Delete the user's API token; True when there was one. Scripts using it get 401 from now on."""
    deleted, _ = Token.objects.filter(user=user).delete()
    return deleted > 0
