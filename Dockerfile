# One huddle worker, built from the same lock file as the README's commands and CI:
# Python packages from uv.lock (uv pinned and hashed in scripts/uv-requirements.txt), the
# web client's from web/package-lock.json. Build: docker build -t huddle .
FROM node:20-bookworm-slim AS web
WORKDIR /app/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    UV_PROJECT_ENVIRONMENT=/app/.venv UV_PYTHON_DOWNLOADS=never UV_NO_PROGRESS=1 \
    PATH=/app/.venv/bin:$PATH PYTHONPATH=/app
WORKDIR /app
COPY scripts/uv-requirements.txt ./scripts/
RUN pip install --no-cache-dir --no-deps --require-hashes -r scripts/uv-requirements.txt
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project --no-cache --python /usr/local/bin/python
COPY chatserver ./chatserver
COPY rooms ./rooms
COPY moderation ./moderation
COPY web ./web
COPY --from=web /app/web/node_modules ./web/node_modules
RUN useradd --system --uid 10001 huddle
# The moderation lists compiled into the image, owned by the user the worker runs as
# (chatserver/lexicon_cache.py): each worker start then skips compiling them.
ENV HUDDLE_CACHE_DIR=/app/.cache
RUN python -c "from pathlib import Path; from chatserver.lexicon_cache import compiled_lexicon; compiled_lexicon(Path('/app/.cache'))" \
    && chown -R huddle /app/.cache
USER huddle
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=2s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/readyz').status == 200 else 1)"
CMD ["python", "-m", "chatserver", "serve", "--host", "0.0.0.0", "--port", "8080"]
