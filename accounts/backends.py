"""The authentication backend that refuses logins while django-axes has locked them out."""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend


class LoginThrottleBackend(AxesStandaloneBackend):
    """Axes' check, first in ``AUTHENTICATION_BACKENDS``; passwords are checked by ``ModelBackend`` after it.

    Every login that comes over HTTP passes its request (Django's login views,
    the admin, ``TokenCreateApi``). Calls without one (a management command,
    the test client's ``login()``) have no client to throttle and are let
    through to the next backend instead of failing.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
