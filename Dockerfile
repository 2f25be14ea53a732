# One image for every zaiban service: `zaiban serve intake|routing|tracking|metrics|public`,
# `zaiban topics ensure`, `zaiban replay tracking|metrics`, `zaiban dlq ...`.
#
#   docker build -t zaiban:local .
#   docker run --rm -e ZAIBAN_AUTH_SECRET=... -e ZAIBAN_KAFKA_BOOTSTRAP=... \
#       -e ZAIBAN_MONGO_URL=... zaiban:local serve intake
#
# Built as in `deploy/compose.yaml` and `deploy/k8s/`; see deploy/README.md.
# The web pages' map library (Leaflet, leaflet.markercluster): npm packages pinned by
# package-lock.json, installed as `make install` does; only node_modules goes on.
FROM node:20-slim AS web-packages
WORKDIR /web
COPY package.json package-lock.json .npmrc ./
RUN npm ci

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The package only: tests, the local stack (deploy/local) and state (.zaiban) stay out
# (see .dockerignore). README.md is read by pyproject.toml as the long description.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY contracts ./contracts
COPY services ./services
COPY zaiban ./zaiban
RUN pip install . && rm -rf /src

# served by the public entry from here (ZAIBAN_WEB_MODULES: services/web/routes.py)
COPY --from=web-packages /web/node_modules /app/node_modules

# The city (catalogue, districts, departments, dispatch rules). A cluster mounts its own
# over this folder (deploy/k8s: a ConfigMap generated from deploy/config/*.yaml).
COPY deploy/config /app/config

# A non-root user with a fixed uid, so Kubernetes' runAsNonRoot can check it.
RUN useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin zaiban
USER 10001
WORKDIR /app

# Listen on every interface inside the container; production settings by default
# (ZAIBAN_AUTH_SECRET is then required and no per-checkout secret is ever written).
ENV ZAIBAN_HOST=0.0.0.0 \
    ZAIBAN_CONFIG_DIR=/app/config \
    ZAIBAN_WEB_MODULES=/app/node_modules \
    ZAIBAN_ENVIRONMENT=production \
    ZAIBAN_LOG_FORMAT=json

# public 8080, intake 8081, routing 8082, tracking 8083, metrics 8084
EXPOSE 8080 8081 8082 8083 8084

ENTRYPOINT ["zaiban"]
CMD ["serve", "public"]
