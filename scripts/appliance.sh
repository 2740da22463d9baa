#!/usr/bin/env bash
# The native appliance, interim stage until supervisord (issue 6): installs what is missing,
# builds, and runs clamd (docker/clamav/clamd.conf), a local redis-server when no Redis is
# configured, and `scan-daemon start`, all under APPLIANCE_HOME (default ./var). Without
# definitions in CLAMAV_DB_DIR it loads the documented test signature set and says so.
# Ctrl-C or SIGTERM stops every part.
set -euo pipefail
cd "$(dirname "$0")/.."
home=${APPLIANCE_HOME:-$PWD/var}
clamd_port=${CLAMAV_PORT:-3310}
db_dir=${CLAMAV_DB_DIR:-$home/clamav-db}

bash scripts/install-packages.sh docker/packages.txt docker/packages-test.txt
[[ -d node_modules ]] || npm install --no-audit --no-fund
npm run build

mkdir -p "$home/clamd" "$home/redis" "$db_dir"
if ! compgen -G "$db_dir/*.c[lvu]d" >/dev/null && ! compgen -G "$db_dir/*.[hn]db" >/dev/null; then
  echo "no ClamAV definitions in $db_dir: loading the TEST definitions only (not for production)"
  bash scripts/make-test-definitions.sh "$db_dir"
fi
bash scripts/render-clamd-conf.sh "$clamd_port" "$db_dir" "$home/clamd" > "$home/clamd/clamd.conf"

pids=()
# In reverse: the daemon finishes its running scans while Redis and clamd are still up.
stop_all() {
  trap - INT TERM EXIT
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
}
trap stop_all INT TERM EXIT

clamd -c "$home/clamd/clamd.conf" &
pids+=($!)
echo "clamd on 127.0.0.1:$clamd_port, definitions in $db_dir"

if [[ -z ${REDIS_URL:-} && -z ${REDIS_HOST:-} ]]; then
  redis_port=${REDIS_PORT:-6379}
  redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$home/redis" --appendonly yes \
    --maxmemory-policy noeviction --save "" --daemonize no --logfile "$home/redis/redis.log" &
  pids+=($!)
  until redis-cli -p "$redis_port" ping >/dev/null 2>&1; do sleep 0.2; done
  echo "redis on 127.0.0.1:$redis_port (AOF on), data in $home/redis"
fi

DATA_DIR=${DATA_DIR:-$home/data} QUARANTINE_DIR=${QUARANTINE_DIR:-$home/quarantine} \
  SCAN_TMP_DIR=${SCAN_TMP_DIR:-$home/tmp} node dist/app/scan-daemon.js start &
pids+=($!)
wait -n
