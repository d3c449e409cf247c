# syntax=docker/dockerfile:1
# One image definition for every app: `docker build --build-arg APP=order .` (Compose sets APP).
# Stages: deps (all dependencies) -> build (SWC to dist/) -> prod-deps (runtime dependencies only)
# -> runtime (Node 22 slim, non-root, telemetry preloaded, HEALTHCHECK on /health/ready).
ARG NODE_IMAGE=node:22.12-bookworm-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the `node` dev dependency would fetch a second Node 22 binary; the image has one.
RUN npm install --no-audit --no-fund --ignore-scripts

FROM deps AS build
COPY tsconfig.json .swcrc ./
COPY scripts ./scripts
COPY libs ./libs
COPY apps ./apps
RUN node scripts/build.mjs --force

FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm install --no-audit --no-fund --ignore-scripts --omit=dev && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ARG APP
RUN test -n "${APP}" || (echo "build with --build-arg APP=<gateway|oauth|customer|product|order|alert-webhook>" && false)
# MALLOC_MMAP_THRESHOLD_, GLIBC_TUNABLES and the node flags below: see scripts/service-flags.mjs.
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    MALLOC_MMAP_THRESHOLD_=1048576 \
    GLIBC_TUNABLES=glibc.malloc.tcache_count=0 \
    APP=${APP} \
    OTEL_SERVICE_NAME=${APP}
WORKDIR /app
COPY --chown=node:node package.json ./
COPY --from=prod-deps --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --chown=node:node scripts/healthcheck.mjs ./scripts/healthcheck.mjs
USER node
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 CMD ["node", "scripts/healthcheck.mjs"]
# exec: node is PID 1's only child of sh no more, so SIGTERM reaches it (graceful shutdown).
CMD ["sh", "-c", "exec node --max-semi-space-size=4 --heap-growing-percent=20 --bytecode-old-age=2 --flush-baseline-code --import ./dist/libs/telemetry/src/register.js dist/apps/${APP}/src/main.js"]
