#!/usr/bin/env bash
# supervisord's freshclam program: the update daemon in the foreground, FRESHCLAM_CHECKS times a
# day, telling clamd to reload after each update. CLAMAV_OFFICIAL_DATABASES=false limits it
# to the DatabaseCustomURL databases (sites without internet).
set -euo pipefail
# shellcheck source=scripts/appliance-env.sh
source "$(dirname "$0")/appliance-env.sh"
conf=$RUN_DIR/clamav/freshclam.conf
until [[ -e $RUN_DIR/clamav/init.done && -s $conf ]]; do sleep 1; done
args=(--daemon --foreground --config-file="$conf")
if [[ $CLAMAV_OFFICIAL_DATABASES != true ]]; then args+=(--update-db=custom); fi
exec freshclam "${args[@]}"
