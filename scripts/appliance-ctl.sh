#!/usr/bin/env bash
# supervisorctl against the appliance this environment describes (APPLIANCE_HOME, RUN_DIR, ...):
# what `scan-daemon status|stop|restart` run. Usage: scripts/appliance-ctl.sh status|stop NAME|...
set -euo pipefail
# shellcheck source=scripts/appliance-env.sh
source "$(dirname "$0")/appliance-env.sh"
exec supervisorctl -c "$SUPERVISOR_CONF" "$@"
