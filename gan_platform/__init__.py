"""The Django project package: settings, URL root, Celery app, WSGI/ASGI.

Named ``gan_platform``, not ``platform``: a top-level ``platform`` package
shadows the standard-library module that ``uuid`` (so Django) and ``torch``
import. See docs/decisions/0001-project-package-name.md.
"""

from gan_platform.celery import app as celery_app

__all__ = ["celery_app"]
