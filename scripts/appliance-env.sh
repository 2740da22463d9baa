#!/usr/bin/env bash
# Sourced, never run: the appliance's paths, users and ports, each from the environment when
# set there (the image sets them all in its Dockerfile) and otherwise under APPLIANCE_HOME
# (default ./var), the native appliance's state folder. supervisord.conf, init-clamav.sh,
# health-check.sh and `scan-daemon status|stop|restart` all read them from here; has_definitions
# is the one test for "clamd has something to load".
# shellcheck disable=SC2034 # the variables are exported for supervisord and its programs

APP_DIR=${APP_DIR:-$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)}
APPLIANCE_HOME=${APPLIANCE_HOME:-$APP_DIR/var}
mkdir -p "$APPLIANCE_HOME"
APPLIANCE_HOME=$(cd "$APPLIANCE_HOME" && pwd)

: "${RUN_DIR:=$APPLIANCE_HOME/run}"
: "${DATA_DIR:=$APPLIANCE_HOME/data}"
: "${QUARANTINE_DIR:=$APPLIANCE_HOME/quarantine}"
: "${SCAN_TMP_DIR:=$APPLIANCE_HOME/tmp}"
: "${LOG_DIR:=$APPLIANCE_HOME/logs}"
: "${CLAMAV_LOG_DIR:=$LOG_DIR}"
: "${SUPERVISOR_LOG_DIR:=$LOG_DIR/supervisor}"
: "${CLAMAV_DB_DIR:=$APPLIANCE_HOME/clamav-db}"
: "${CLAMAV_HOST:=127.0.0.1}"
: "${CLAMAV_PORT:=3310}"
: "${PORT:=3000}"
: "${SCAN_DAEMON_WS_PORT:=8081}"
: "${CLAMAV_USER:=$(id -un)}"
: "${APP_USER:=$(id -un)}"
# Definitions baked into the image at build time (air-gapped sites), copied when the volume is empty.
: "${CLAMAV_BAKED_DB_DIR:=/opt/clamav-baked}"
# The development signature set when nothing else is available (native default; never in the image).
: "${CLAMAV_TEST_DEFINITIONS:=true}"
# false: freshclam fetches only DatabaseCustomURL databases (hospitals without internet).
: "${CLAMAV_OFFICIAL_DATABASES:=true}"
: "${CLAMAV_PRIVATE_MIRROR:=}"
: "${CLAMAV_CUSTOM_DATABASE_URLS:=}"
# A custom database over plain http can be swapped on the way, and an allow-list database
# (.fp, .sfp, .ign, .ign2, .crb) silences clamd's detections: each needs its own "true".
: "${CLAMAV_CUSTOM_DATABASE_ALLOW_HTTP:=false}"
: "${CLAMAV_CUSTOM_DATABASE_ALLOW_ALLOWLISTS:=false}"
: "${FRESHCLAM_CHECKS:=1}"
: "${FRESHCLAM_INIT_TIMEOUT:=300}"
# No Redis configured: the native appliance runs its own (the image gets one from compose).
if [[ -z ${REDIS_URL:-} && -z ${REDIS_HOST:-} ]]; then
  LOCAL_REDIS=true
  : "${REDIS_PORT:=6379}"
  REDIS_HOST=127.0.0.1
else
  : "${LOCAL_REDIS:=false}"
fi
: "${REDIS_PORT:=6379}"

export APP_DIR APPLIANCE_HOME RUN_DIR DATA_DIR QUARANTINE_DIR SCAN_TMP_DIR LOG_DIR CLAMAV_LOG_DIR \
  SUPERVISOR_LOG_DIR CLAMAV_DB_DIR CLAMAV_HOST CLAMAV_PORT PORT SCAN_DAEMON_WS_PORT CLAMAV_USER APP_USER \
  CLAMAV_BAKED_DB_DIR CLAMAV_TEST_DEFINITIONS CLAMAV_OFFICIAL_DATABASES CLAMAV_PRIVATE_MIRROR \
  CLAMAV_CUSTOM_DATABASE_URLS CLAMAV_CUSTOM_DATABASE_ALLOW_HTTP CLAMAV_CUSTOM_DATABASE_ALLOW_ALLOWLISTS FRESHCLAM_CHECKS FRESHCLAM_INIT_TIMEOUT LOCAL_REDIS REDIS_HOST REDIS_PORT
SUPERVISOR_CONF=$APP_DIR/docker/supervisor/supervisord.conf

# The CLAMAV_CUSTOM_DATABASE_URLS freshclam may fetch, one per line; each refused one is said on stderr.
custom_database_urls() {
  local url
  for url in $CLAMAV_CUSTOM_DATABASE_URLS; do
    if [[ $url == http://* && $CLAMAV_CUSTOM_DATABASE_ALLOW_HTTP != true ]]; then
      echo "init-clamav: custom database $url REFUSED: plain http (use https, or set CLAMAV_CUSTOM_DATABASE_ALLOW_HTTP=true)" >&2
    elif [[ ${url,,} =~ \.(fp|sfp|ign|ign2|crb)$ && $CLAMAV_CUSTOM_DATABASE_ALLOW_ALLOWLISTS != true ]]; then
      echo "init-clamav: custom database $url REFUSED: an allow-list database silences detections (set CLAMAV_CUSTOM_DATABASE_ALLOW_ALLOWLISTS=true)" >&2
    else
      echo "$url"
    fi
  done
}

# Whether CLAMAV_DB_DIR holds any database clamd can start with.
has_definitions() {
  compgen -G "$CLAMAV_DB_DIR/*.c[lvu]d" >/dev/null || compgen -G "$CLAMAV_DB_DIR/*.[hn]db" >/dev/null
}
