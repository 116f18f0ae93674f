# One image for web, worker and beat. GPU hosts run it with the NVIDIA runtime;
# the pinned torch build carries its own CUDA libraries and also runs on CPU.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ATELIER_VAR_DIR=/var/lib/atelier

# bubblewrap: the sandbox the generators run in.
RUN apt-get update \
 && apt-get install -y --no-install-recommends bubblewrap libseccomp2 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
RUN useradd --system --home /var/lib/atelier atelier \
 && mkdir -p /var/lib/atelier \
 && chown atelier /var/lib/atelier \
 && DJANGO_DEBUG=0 DJANGO_SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput

EXPOSE 8000
# Worker class, threads, timeouts and worker count: gunicorn.conf.py (ATELIER_WEB_* variables).
CMD ["gunicorn", "-c", "gunicorn.conf.py", "gan_platform.wsgi:application"]
