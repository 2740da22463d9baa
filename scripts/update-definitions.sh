#!/usr/bin/env bash
# A definitions update now, by hand: freshclam once with the appliance's own configuration,
# then clamd reloads (NotifyClamd). No restart. In the image:
#   docker exec medical-scan-daemon /app/scripts/update-definitions.sh
set -euo pipefail
# shellcheck source=scripts/appliance-env.sh
source "$(dirname "$0")/appliance-env.sh"
# Its own log file: the freshclam daemon holds a lock on freshclam.log.
args=(--foreground --config-file="$RUN_DIR/clamav/freshclam.conf" --log="$CLAMAV_LOG_DIR/freshclam-manual.log")
if [[ $CLAMAV_OFFICIAL_DATABASES != true ]]; then args+=(--update-db=custom); fi
if [[ $(id -u) -eq 0 && $CLAMAV_USER != root ]]; then
  exec runuser -u "$CLAMAV_USER" -- freshclam "${args[@]}"
fi
exec freshclam "${args[@]}"
