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
if [[ $CLAMAV_OFFICIAL_DATABASES != true ]]; then
  if [[ -z $(custom_database_urls 2>/dev/null) ]]; then
    # freshclam refuses to start with nothing to fetch; a restart loop would only hide that.
    echo "freshclam: nothing to update (CLAMAV_OFFICIAL_DATABASES=false and no usable CLAMAV_CUSTOM_DATABASE_URLS): definitions change only when an operator puts database files into $CLAMAV_DB_DIR"
    exec sleep infinity
  fi
  args+=(--update-db=custom)
fi
exec freshclam "${args[@]}"
