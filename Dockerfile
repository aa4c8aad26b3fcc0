FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CDS_HOST=0.0.0.0 CDS_PORT=8000 CDS_DATABASE_URL=sqlite:////data/cds-feedback.db

WORKDIR /app
RUN useradd --system --uid 10001 --home /app cds && mkdir -p /data && chown cds /data

# The dependencies first, exactly as pinned in requirements.lock (`make lock`): this layer is rebuilt only when the
# lock changes, not on every change to the code.
COPY requirements.lock ./
RUN pip install --no-cache-dir --no-deps -r requirements.lock

# Then the service itself, adding nothing to what the lock installed (and checking that the lock satisfies it).
COPY pyproject.toml README.md ./
COPY cds_service ./cds_service
COPY hooks ./hooks
RUN pip install --no-cache-dir --no-deps '.[postgres]' && pip check

USER cds
VOLUME ["/data"]
EXPOSE 8000
# Liveness on the port the service listens on (CDS_PORT, set at run time too); readiness (/readyz) is for the
# load balancer or orchestrator, which should stop sending calls, not restart the container, when the database fails.
HEALTHCHECK CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CDS_PORT', '8000'), timeout=5)"
CMD ["cds-service", "serve"]
