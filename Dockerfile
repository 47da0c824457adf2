# syntax=docker/dockerfile:1
# reshifter's container image: docker build -t reshifter:0.1.0 .
# Node.js LTS on Debian bookworm (slim), built in stages so the image carries only production dependencies and
# the compiled JavaScript. Runs as the unprivileged `node` user under tini, with `node dist/main.js` as the
# entrypoint (never npm, which does not pass SIGTERM on).
# Node.js 24 (LTS, security fixes until April 2028): the same major as .nvmrc, package.json's engines and the Node
# CI runs the tests on (scripts/install-node.sh); test/e2e/dockerfile.test.ts keeps the four in step.
ARG NODE_VERSION=24

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY scripts/copy-assets.mjs scripts/build-commit.mjs scripts/etcd3-descriptor.mjs scripts/warm-compile-cache.mjs ./scripts/
COPY src ./src
RUN npm run build

FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM node:${NODE_VERSION}-bookworm-slim
# etcdctl and etcd (Debian's etcd-client and etcd-server, ~40 MB) make the image a complete recovery kit:
# `etcdctl snapshot restore` turns a restored snapshot into a data directory, and a point-in-time restore
# (`restore --to` with --data-dir) replays the recorded changes through a temporary etcd on loopback.
# Build with --build-arg WITH_ETCDCTL=false for the smallest image.
ARG WITH_ETCDCTL=true
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini ca-certificates $([ "$WITH_ETCDCTL" = "true" ] && echo etcd-client etcd-server) \
 && rm -rf /var/lib/apt/lists/*
# A container's loopback is its own: probes and Prometheus reach the server on the pod's (or the node's) address.
ENV NODE_ENV=production \
    RS_BACKUP_DIR=/backups \
    RS_HTTP_ADDRESS=0.0.0.0
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
RUN mkdir -p /backups && chown node:node /backups
USER node
EXPOSE 8080
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--max-semi-space-size=2", "--initial-old-space-size=64", "--disable-warning=DEP0123", "/app/dist/main.js"]
CMD ["backup"]
