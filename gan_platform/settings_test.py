"""Settings for the test suite: the production settings with what tests need on top.

pytest uses this module (``DJANGO_SETTINGS_MODULE`` in pyproject.toml), and the worker and server
processes a test starts inherit it. Tests that check the production settings themselves start
their process with ``gan_platform.settings``.
"""

from gan_platform.settings import *  # noqa: F403

# Test users are made with passwords: hash them cheaply (PBKDF2 costs about a second here).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Tests see their own writes at once: no anonymous response is reused (tests of
# gan_platform.microcache turn it back on).
ATELIER_MICROCACHE_SECONDS = 0

# Webhook tests run their receivers on loopback over plain http; the production guard is tested
# by turning this off.
ATELIER_WEBHOOK_ALLOW_LOOPBACK = True
ATELIER_WEBHOOK_RETRY_BASE_SECONDS = env_int("ATELIER_WEBHOOK_RETRY_BASE_SECONDS", 0)  # noqa: F405
