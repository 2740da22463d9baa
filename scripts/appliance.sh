#!/usr/bin/env bash
# The native appliance (the README's first command, `npm run appliance`): installs the image's
# Debian packages if missing, builds, and runs supervisord in the foreground with the image's
# own docker/supervisor/supervisord.conf: init-clamav, clamd, freshclam and the app, plus a
# local redis-server when no Redis is configured. Everything lives under APPLIANCE_HOME
# (default ./var); ports and paths follow docs/configuration.md's names, so two appliances
# can run side by side. Ctrl-C or SIGTERM stops every program cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-packages.sh docker/packages.txt
[[ -d node_modules ]] || npm install --no-audit --no-fund
[[ ${APPLIANCE_SKIP_BUILD:-false} == true ]] || npm run build

# shellcheck source=scripts/appliance-env.sh
source scripts/appliance-env.sh
rm -f "$RUN_DIR/clamav/init.done"
mkdir -p "$RUN_DIR/supervisor.d" "$SUPERVISOR_LOG_DIR" "$LOG_DIR" "$APPLIANCE_HOME/redis"
if [[ $LOCAL_REDIS == true ]]; then
  cp docker/supervisor/local-redis.conf "$RUN_DIR/supervisor.d/local-redis.conf"
else
  rm -f "$RUN_DIR/supervisor.d/local-redis.conf"
fi
# REDIS_URL may hold a password: only say that it is used.
if [[ -n ${REDIS_URL:-} ]]; then
  redis_at="from REDIS_URL"
elif [[ $LOCAL_REDIS == true ]]; then
  redis_at="$REDIS_HOST:$REDIS_PORT (local)"
else
  redis_at="$REDIS_HOST:$REDIS_PORT"
fi
# DATABASE_URL holds a password too.
if [[ -n ${DATABASE_URL:-} ]]; then
  store_at="PostgreSQL from DATABASE_URL, host ${HOST_ID:-$(hostname)}"
else
  store_at="SQLite in $DATA_DIR"
fi
echo "appliance: home $APPLIANCE_HOME, API on :$PORT, WebSockets on :$SCAN_DAEMON_WS_PORT, clamd on :$CLAMAV_PORT, redis $redis_at, store: $store_at"
echo "appliance: status with 'npx scan-daemon status' or 'supervisorctl -c $SUPERVISOR_CONF status' (same environment)"
exec supervisord --nodaemon --configuration "$SUPERVISOR_CONF"
