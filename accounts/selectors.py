"""Reads of the accounts app."""

from rest_framework.authtoken.models import Token


def api_token_get(*, user) -> Token | None:
    return Token.objects.filter(user=user).first()
