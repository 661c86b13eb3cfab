# syntax=docker/dockerfile:1
#
# qlik-broker container image.
#   build:   docker build -t qlik-broker:local .
#   run:     docker run --rm -p 8080:8080 qlik-broker:local
#   simulator (same image): docker run --rm -p 4100:4100 qlik-broker:local dist/simulator/main.js
#
# Three stages: production dependencies only (deps), the TypeScript build (build),
# and a distroless Node 24 LTS runtime with neither shell nor npm (runtime).
# Pin the bases by digest in CI (--build-arg / Renovate), e.g.
#   NODE_IMAGE=node:24.21.0-trixie-slim@sha256:...
#   RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian13:nonroot@sha256:...
ARG NODE_IMAGE=node:24.21.0-trixie-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian13:nonroot

# Production dependencies from the lockfile, install scripts off (the repo's
# .npmrc says so too, and carries legacy-peer-deps, which the lockfile needs).
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# Full install and compile: dist/ is the only thing taken from this stage.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build

# Runtime: distroless nodejs24 (ENTRYPOINT is node), uid/gid 65532, no shell,
# so Node is PID 1 and gets SIGTERM directly; the broker drains and exits
# within BROKER_SHUTDOWN_GRACE_MS. Files stay root-owned: the app cannot
# rewrite itself, and a read-only root filesystem works (/tmp aside).
FROM ${RUNTIME_IMAGE} AS runtime
WORKDIR /app
ENV NODE_ENV=production \
    BROKER_HOST=0.0.0.0 \
    BROKER_PORT=8080
COPY --from=deps /app/package.json ./package.json
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER 65532:65532
EXPOSE 8080
# No HEALTHCHECK: Kubernetes probes /livez and /readyz, compose defines its own.
CMD ["dist/server.js"]

# Volatile metadata last, so a new commit does not invalidate the layers above.
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="qlik-broker" \
      org.opencontainers.image.description="Credential broker for Qlik Cloud regional OAuth clients" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
