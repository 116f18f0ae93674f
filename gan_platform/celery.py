"""The Celery application. Workers start it with ``celery -A gan_platform worker``.

Configuration comes from Django settings (``CELERY_*``); tasks are found in
every installed app's ``tasks`` module. Queues: ``gpu`` runs scoring (one
process per GPU, prefetch 1), ``default`` everything else.
"""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gan_platform.settings")

app = Celery("gan_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("gpu"), Queue("default"))
app.autodiscover_tasks()
