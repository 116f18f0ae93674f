"""Settings for the test suite: the production settings with what tests need on top.

pytest uses this module (``DJANGO_SETTINGS_MODULE`` in pyproject.toml), and the worker and server
processes a test starts inherit it. Tests that check the production settings themselves start
their process with ``gan_platform.settings``.
"""

import os

from django.core.exceptions import ImproperlyConfigured

# ATELIER_TEST_STORAGE=s3: private files in a bucket of the S3-protocol server that
# ATELIER_TEST_S3_ENDPOINT names (.ci/run starts moto_server for it). Set in the environment, before
# the settings are read, so the worker processes that tests start inherit it.
if os.environ.get("ATELIER_TEST_STORAGE", "local") == "s3":
    _endpoint = os.environ.get("ATELIER_TEST_S3_ENDPOINT", "").strip()
    if not _endpoint:
        raise ImproperlyConfigured(
            "ATELIER_TEST_STORAGE=s3 needs an S3-protocol server: start one with "
            "`.venv/bin/moto_server -H 127.0.0.1 -p 5010` and set ATELIER_TEST_S3_ENDPOINT=http://127.0.0.1:5010."
        )
    os.environ.setdefault("ATELIER_S3_BUCKET", "atelier-test")
    os.environ.setdefault("ATELIER_S3_ENDPOINT_URL", _endpoint)
    os.environ.setdefault("ATELIER_S3_ACCESS_KEY_ID", "atelier-test")
    os.environ.setdefault("ATELIER_S3_SECRET_ACCESS_KEY", "atelier-test-secret")
    os.environ.setdefault("ATELIER_S3_REGION", "us-east-1")
elif os.environ.get("ATELIER_TEST_STORAGE", "local") != "local":
    raise ImproperlyConfigured("ATELIER_TEST_STORAGE is `local` (the default) or `s3`.")

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

# Workers started by tests report their weights when they start, without a refreshing thread.
ATELIER_WORKER_WEIGHTS_REPORT_S = env_int("ATELIER_WORKER_WEIGHTS_REPORT_S", 0)  # noqa: F405
