# syntax=docker/dockerfile:1
# Application image of the chat cluster. One image, three processes (see helm/chat):
#   socket node  node dist/server/main.js            (default CMD; PORT, /healthz /readyz /metrics)
#   flusher      node dist/storage/flusher/main.js   (CHAT_FLUSHER_HTTP_PORT)
#   migration    node dist/scripts/migrate.js
#
#   docker build -t chat-cluster:0.1.0 .

# ---- build: full dependency tree, TypeScript compile of the product ------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
# artillery (a devDependency, load tests only) pulls Playwright, whose postinstall would
# download a browser that the image never uses.
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false \
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
# .npmrc first: its ignore-scripts applies to npm ci as it does outside the image (no
# dependency needs an install script; whatever npm version the base image ships).
COPY package.json package-lock.json .npmrc ./
RUN npm ci
COPY . .
# The product alone (tsconfig.build.json): no test, bench or load-test code reaches dist/.
RUN npm run build:product \
 && npm prune --omit=dev

# ---- runtime: production dependencies and compiled output only -----------------------------
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build --chown=root:root /app/package.json /app/package-lock.json ./
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
# Numeric non-root user (the image's `node` user), so that Kubernetes can verify runAsNonRoot.
# The application files are root-owned and read-only to it; the chart mounts /tmp as the only
# writable path (readOnlyRootFilesystem).
USER 1000:1000
EXPOSE 3000 9100
# node handles SIGTERM itself: the socket node drains within CHAT_DRAIN_DEADLINE_MS, then exits.
CMD ["node", "dist/server/main.js"]
