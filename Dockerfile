# Thaiyyal server image: `thaiyyal serve` (gunicorn) on port 8080, as a non-root user.
# Built for a read-only root filesystem: bytecode is compiled here, and the only writable
# paths at run time are /tmp and the Prometheus multiprocess directory (tmpfs volumes in
# deploy/k8s/deployment.yaml).
#
#   docker build -t thaiyyal:0.1.0 .
#   docker run --rm -p 8080:8080 -e SECRET_KEY=... -e DATABASE_URL=postgres://... thaiyyal:0.1.0
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=thaiyyal.settings \
    PROMETHEUS_MULTIPROC_DIR=/var/run/thaiyyal/metrics \
    THAIYYAL_VAR_DIR=/tmp/thaiyyal

WORKDIR /app
# Dependencies first, so a source-only change reuses this layer.
COPY pyproject.toml README.md ./
RUN mkdir engine thaiyyal workflows \
    && touch engine/__init__.py thaiyyal/__init__.py workflows/__init__.py \
    && pip install . \
    && pip uninstall -y thaiyyal \
    && rm -rf engine thaiyyal workflows build *.egg-info

COPY engine ./engine
COPY thaiyyal ./thaiyyal
COPY workflows ./workflows
COPY templates ./templates
COPY deploy ./deploy
COPY examples ./examples
# Editable, so deploy/gunicorn.conf.py and templates/ stay where the code looks for them.
RUN pip install --no-deps -e . \
    && python -m compileall -q engine thaiyyal workflows deploy \
    && groupadd --system --gid 10001 thaiyyal \
    && useradd --system --uid 10001 --gid thaiyyal --home-dir /nonexistent \
       --no-create-home --shell /usr/sbin/nologin thaiyyal \
    && mkdir -p /var/run/thaiyyal/metrics /tmp/thaiyyal \
    && chown -R thaiyyal:thaiyyal /var/run/thaiyyal /tmp/thaiyyal

USER 10001:10001
# 8080: the application; 8081: /healthz and /readyz, answered by the gunicorn master
EXPOSE 8080 8081
CMD ["thaiyyal", "serve", "--bind", "0.0.0.0:8080"]
