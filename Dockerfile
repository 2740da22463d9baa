# syntax=docker/dockerfile:1
# medical-scan-daemon: one container, supervisord running init-clamav, clamd, freshclam and the
# app (docker/supervisor/supervisord.conf); Redis runs beside it (docker-compose.yml).
# Debian slim, not Alpine: @litko/yara-x ships only a glibc binary.
ARG NODE_VERSION=22

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 builds its native addon from source during npm install (no prebuilt binary
# can be fetched where GitHub is out of reach).
RUN apt-get update \
  && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# The npm that wrote package-lock.json, whatever npm the base image brings: node:22's npm 10
# does not follow an npm 11 lockfile (it nests a second @types/koa under @bull-board/koa and
# tsc then fails). Pinning npm keeps the build reproducible from the lockfile alone, without
# an `overrides` entry that would have to be kept in step with every dependency update.
ARG NPM_VERSION=11.19.1
RUN npm install -g "npm@${NPM_VERSION}" --no-audit --no-fund && npm --version
# Not `npm ci`: @litko/yara-x lists platform packages that were never published (see .ci/run).
RUN npm install --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY app ./app
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
# true: download the ClamAV definitions now and bake them into the image (air-gapped sites);
# CLAMAV_PRIVATE_MIRROR may name the hospital's mirror to download them from.
ARG BAKE_DEFINITIONS=false
ARG CLAMAV_PRIVATE_MIRROR=
# The one package list the native appliance installs too.
COPY docker/packages.txt /tmp/packages.txt
COPY scripts/install-packages.sh /tmp/install-packages.sh
RUN bash /tmp/install-packages.sh /tmp/packages.txt && rm -rf /var/lib/apt/lists/* /tmp/packages.txt /tmp/install-packages.sh

WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY rules ./rules
COPY ui ./ui
COPY scripts ./scripts
COPY docker ./docker
COPY healthcheck ./healthcheck
COPY docker/supervisor/supervisord.conf /etc/supervisor/supervisord.conf
RUN ln -s /app/healthcheck/health-check.sh /usr/local/bin/health-check.sh \
  && ln -s /app/dist/app/scan-daemon.js /usr/local/bin/scan-daemon

ENV NODE_ENV=production \
  APP_DIR=/app \
  APPLIANCE_HOME=/var/lib/medical-scan-daemon \
  RUN_DIR=/run/medical-scan-daemon \
  DATA_DIR=/var/lib/medical-scan-daemon/data \
  SCAN_TMP_DIR=/var/lib/medical-scan-daemon/data/tmp \
  QUARANTINE_DIR=/var/lib/medical-scan-daemon/quarantine \
  LOG_DIR=/var/log/medical-scan-daemon \
  CLAMAV_LOG_DIR=/var/log/clamav \
  SUPERVISOR_LOG_DIR=/var/log/supervisor \
  CLAMAV_DB_DIR=/var/lib/clamav \
  CLAMAV_BAKED_DB_DIR=/opt/clamav-baked \
  CLAMAV_HOST=127.0.0.1 \
  CLAMAV_PORT=3310 \
  CLAMAV_USER=clamav \
  APP_USER=node \
  CLAMAV_TEST_DEFINITIONS=false \
  CLAMAV_OFFICIAL_DATABASES=true \
  LOCAL_REDIS=false \
  REDIS_HOST=redis \
  REDIS_PORT=6379 \
  HOST=0.0.0.0 \
  PORT=3000 \
  SCAN_DAEMON_WS_PORT=8081

# clamav joins node's group to read stored files itself (CLAMAV_SCAN_MODE=path): the app makes
# DATA_DIR/files and the files in it group-readable, and nothing else.
RUN usermod -a -G node clamav \
  && mkdir -p "$APPLIANCE_HOME" "$DATA_DIR" "$QUARANTINE_DIR" "$LOG_DIR" "$CLAMAV_LOG_DIR" "$SUPERVISOR_LOG_DIR" "$CLAMAV_DB_DIR" "$CLAMAV_BAKED_DB_DIR" "$RUN_DIR" \
  && chown -R node "$APPLIANCE_HOME" "$LOG_DIR" \
  && chown -R clamav "$CLAMAV_DB_DIR" "$CLAMAV_LOG_DIR" "$CLAMAV_BAKED_DB_DIR" \
  && chmod 0700 "$QUARANTINE_DIR"
RUN if [ "$BAKE_DEFINITIONS" = "true" ]; then \
      grep -Ev '^(NotifyClamd|DatabaseOwner|UpdateLogFile|PidFile)[[:space:]]' /app/docker/clamav/freshclam.conf > /tmp/freshclam.conf \
      && echo "DatabaseOwner clamav" >> /tmp/freshclam.conf \
      && if [ -n "$CLAMAV_PRIVATE_MIRROR" ]; then echo "PrivateMirror $CLAMAV_PRIVATE_MIRROR" >> /tmp/freshclam.conf; fi \
      && freshclam --config-file=/tmp/freshclam.conf --datadir="$CLAMAV_BAKED_DB_DIR" --foreground --stdout \
      && rm /tmp/freshclam.conf; \
    fi

VOLUME ["/var/lib/clamav", "/var/lib/medical-scan-daemon/data", "/var/lib/medical-scan-daemon/quarantine", "/var/log/supervisor", "/var/log/clamav", "/var/log/medical-scan-daemon"]
EXPOSE 3000 8081
# The first start may download ~300 MB of definitions before clamd can start.
HEALTHCHECK --interval=30s --timeout=20s --start-period=10m --retries=3 CMD ["/app/healthcheck/health-check.sh"]
# supervisord stays root to start each program as its own user: clamd and freshclam as
# clamav, the app as node.
CMD ["supervisord", "--nodaemon", "--configuration", "/etc/supervisor/supervisord.conf"]
