"""The Celery application. Workers start it with ``celery -A gan_platform worker``.

Configuration comes from Django settings (``CELERY_*``); tasks are found in
every installed app's ``tasks`` module. Queues (``CELERY_TASK_QUEUES``):
``ATELIER_GPU_QUEUE`` (``gpu``) runs scoring (one process per GPU, prefetch 1),
``default`` everything else.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gan_platform.settings")

app = Celery("gan_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
