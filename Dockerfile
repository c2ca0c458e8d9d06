# One image for every process of the Procfile; the CMD is its `web` line, compose.yaml and
# deploy/kubernetes/ give the others (tests/test_deploy_files.py checks they match).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PYNOMALY_ENV=production \
    PYNOMALY_STATIC_BUILT=1 \
    WEB_HOST=0.0.0.0 \
    WEB_PORT=8000

RUN groupadd --system --gid 10001 pynomaly \
    && useradd --system --uid 10001 --gid pynomaly --home-dir /app --shell /usr/sbin/nologin pynomaly

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY --chown=pynomaly:pynomaly . .
# Hashed, compressed static files are part of the image (a throwaway key: nothing is signed).
RUN SECRET_KEY=collectstatic-only PYNOMALY_SECRETS_KEYS=Y29sbGVjdHN0YXRpYy1vbmx5LW5vdC1hLXNlY3JldCE= \
    python manage.py collectstatic --noinput \
    && mkdir -p /app/var/media && chown -R pynomaly:pynomaly /app/var

USER pynomaly
EXPOSE 8000
VOLUME ["/app/var/media"]

# /healthz answers without the database; Host "localhost" must be in ALLOWED_HOSTS.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen(u.Request('http://127.0.0.1:8000/healthz', headers={'Host': 'localhost'}), timeout=4)"]

CMD ["python", "-m", "pynomaly_web.serve"]
