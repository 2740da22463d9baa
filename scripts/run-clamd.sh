#!/usr/bin/env bash
# supervisord's clamd program: waits until init-clamav is done and definitions
# exist (saying so once), then becomes clamd in the foreground.
set -euo pipefail
# shellcheck source=scripts/appliance-env.sh
source "$(dirname "$0")/appliance-env.sh"
conf=$RUN_DIR/clamav/clamd.conf
said=false
until [[ -e $RUN_DIR/clamav/init.done && -s $conf ]] && has_definitions; do
  if [[ $said == false ]]; then
    echo "clamd: waiting for definitions in $CLAMAV_DB_DIR"
    said=true
  fi
  sleep 5
done
exec clamd -c "$conf"
