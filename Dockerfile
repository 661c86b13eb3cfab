# syntax=docker/dockerfile:1
#
# qlik-broker container images, two targets:
#   runtime (the default, last stage): the broker alone.
#     build: docker build -t qlik-broker:local .
#     run:   docker run --rm -p 8080:8080 qlik-broker:local
#   simulator: the Qlik Cloud simulator (packages/qlik-cloud-simulator), for
#   the compose stack and callers' tests; never deployed.
#     build: docker build --target simulator -t qlik-cloud-simulator:local .
#     run:   docker run --rm -p 4100:4100 qlik-cloud-simulator:local
#
# The broker's stages: production dependencies only (deps), the TypeScript
# build (build), and a distroless Node 24 LTS runtime with neither shell nor
# npm (runtime). Neither of its build stages copies packages/, so the
# simulator, its demo clients and their secrets cannot reach its dist/ or
# node_modules/ (the demo, scripts/demo.ts, is not copied either).
# Pin the bases by digest in CI (--build-arg / Renovate), e.g.
#   NODE_IMAGE=node:24.21.0-trixie-slim@sha256:...
#   RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian13:nonroot@sha256:...
ARG NODE_IMAGE=node:24.21.0-trixie-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian13:nonroot

# Production dependencies from the lockfile, install scripts off (the repo's
# .npmrc says so too). --workspaces=false: the root's dependencies only, no
# link to a workspace package (none is copied here anyway).
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --ignore-scripts --workspaces=false --no-audit --no-fund

# Full install and compile of the broker: dist/ is the only thing taken from
# this stage.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --ignore-scripts --workspaces=false --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build:broker

# The simulator's production dependencies (zod, yaml) from the same lockfile.
FROM ${NODE_IMAGE} AS sim-deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY packages/qlik-cloud-simulator/package.json ./packages/qlik-cloud-simulator/
RUN npm ci --omit=dev --ignore-scripts --workspace=@qlik-broker/qlik-cloud-simulator --no-audit --no-fund

# The simulator's compile; its package tsconfig extends the root one.
FROM ${NODE_IMAGE} AS sim-build
WORKDIR /app
COPY package.json package-lock.json .npmrc tsconfig.json ./
COPY packages/qlik-cloud-simulator/package.json ./packages/qlik-cloud-simulator/
RUN npm ci --ignore-scripts --workspace=@qlik-broker/qlik-cloud-simulator --no-audit --no-fund
COPY packages/qlik-cloud-simulator ./packages/qlik-cloud-simulator
RUN npm run build --workspace=@qlik-broker/qlik-cloud-simulator

# The simulator image: the package laid out as in the repository
# (/app/packages/qlik-cloud-simulator, dependencies in /app/node_modules).
# Distroless and non-root like the broker; configured by SIM_* variables.
FROM ${RUNTIME_IMAGE} AS simulator
WORKDIR /app/packages/qlik-cloud-simulator
ENV NODE_ENV=production \
    SIM_HOST=0.0.0.0 \
    SIM_PORT=4100
COPY --from=sim-deps /app/node_modules /app/node_modules
COPY --from=sim-build /app/packages/qlik-cloud-simulator/package.json ./package.json
COPY --from=sim-build /app/packages/qlik-cloud-simulator/dist ./dist
USER 65532:65532
EXPOSE 4100
CMD ["dist/main.js"]
LABEL org.opencontainers.image.title="qlik-cloud-simulator" \
      org.opencontainers.image.description="Qlik Cloud simulator for tests and the local stack (never deploy)" \
      org.opencontainers.image.licenses="Apache-2.0"

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
# dockerlinter counts CMDs over the whole file; Docker takes one per target.
# linter ignore=EI0001
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
