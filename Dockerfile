# One huddle worker. Build: docker build -t huddle .
FROM node:20-bookworm-slim AS web
WORKDIR /app/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY chatserver ./chatserver
COPY rooms ./rooms
COPY moderation ./moderation
RUN pip install --no-cache-dir .
COPY web ./web
COPY --from=web /app/web/node_modules ./web/node_modules
RUN useradd --system --uid 10001 huddle
USER huddle
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=2s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/readyz').status == 200 else 1)"
CMD ["python", "-m", "chatserver", "serve", "--host", "0.0.0.0", "--port", "8080"]
