#!/usr/bin/env bash
# The appliance's health check (the image's HEALTHCHECK; by hand: docker exec … health-check.sh):
# every supervisord program RUNNING (init-clamav exited 0), clamd answering PONG, definitions
# present and younger than CLAMAV_DEFINITIONS_MAX_AGE_HOURS, Redis answering PONG, and the
# app's /health/ready. Prints one line per piece; exits 1 naming every broken one.
set -uo pipefail
# Through the link: the image runs it as /usr/local/bin/health-check.sh, a symlink.
# shellcheck source=scripts/appliance-env.sh
source "$(dirname "$(readlink -f "$0")")/../scripts/appliance-env.sh" || { echo "UNHEALTHY: cannot read the appliance's environment"; exit 1; }
max_age_hours=${CLAMAV_DEFINITIONS_MAX_AGE_HOURS:-72}
broken=()
ok() { echo "ok      $1"; }
fail() {
  echo "BROKEN  $1: $2"
  broken+=("$1")
}

# supervisorctl exits 3 when a program is not RUNNING: the lines still say which.
if status=$(supervisorctl -c "$SUPERVISOR_CONF" status 2>&1) || [[ $? -eq 3 ]]; then
  before=${#broken[@]}
  while read -r name state rest; do
    [[ -z $name ]] && continue
    if [[ $name == init-clamav ]]; then
      [[ $state == EXITED && $rest != *"exit status"* ]] || [[ $state == RUNNING ]] || fail "$name" "$state $rest"
    elif [[ $state != RUNNING ]]; then
      fail "$name" "$state $rest"
    fi
  done <<< "$status"
  if ((${#broken[@]} == before)); then ok "supervisord programs"; fi
else
  fail supervisord "supervisorctl cannot reach it: $status"
fi

# shellcheck disable=SC2016 # $1 and $2 expand in the inner shell
pong=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/$1/$2" && printf "zPING\0" >&3 && tr -d "\0" <&3' _ "$CLAMAV_HOST" "$CLAMAV_PORT" 2>/dev/null)
if [[ $pong == PONG ]]; then ok "clamd PONG on $CLAMAV_HOST:$CLAMAV_PORT"; else fail clamd "no PONG on $CLAMAV_HOST:$CLAMAV_PORT"; fi

newest=$(find "$CLAMAV_DB_DIR" -maxdepth 1 -type f \( -name '*.c[lvu]d' -o -name '*.[hnl]db' \) -printf '%T@\n' 2>/dev/null | sort -n | tail -1)
if [[ -z $newest ]]; then
  fail definitions "none in $CLAMAV_DB_DIR"
else
  age_hours=$(( ($(date +%s) - ${newest%.*}) / 3600 ))
  if (( age_hours > max_age_hours )); then fail definitions "newest is ${age_hours} h old (limit ${max_age_hours} h)"; else ok "definitions (${age_hours} h old)"; fi
fi

# The password goes to redis-cli in REDISCLI_AUTH, never on its command line (ps would show it);
# REDIS_URL is taken apart by Node's URL parser (user, percent-encoded password, rediss:// for TLS).
redis_args=()
if [[ -n ${REDIS_URL:-} ]]; then
  # shellcheck disable=SC2016 # JavaScript template literals
  mapfile -t url_parts < <(node -e '
    const u = new URL(process.argv[1]);
    console.log([u.hostname.replace(/^\[|\]$/g, ""), u.port || "6379", decodeURIComponent(u.username), decodeURIComponent(u.password), u.protocol === "rediss:" ? "tls" : "", u.pathname.slice(1) || "0"].join("\n"));
  ' "$REDIS_URL" 2>/dev/null || true)
  redis_args=(-h "${url_parts[0]:-127.0.0.1}" -p "${url_parts[1]:-6379}" -n "${url_parts[5]:-0}")
  [[ -n ${url_parts[2]:-} ]] && redis_args+=(--user "${url_parts[2]}")
  [[ ${url_parts[4]:-} == tls ]] && redis_args+=(--tls)
  [[ -n ${url_parts[3]:-} ]] && export REDISCLI_AUTH=${url_parts[3]}
else
  redis_args=(-h "$REDIS_HOST" -p "$REDIS_PORT")
  if [[ -n ${REDIS_PASSWORD:-} ]]; then export REDISCLI_AUTH=$REDIS_PASSWORD; fi
fi
if [[ $(timeout 5 redis-cli "${redis_args[@]}" ping 2>/dev/null) == PONG ]]; then ok "redis PONG"; else fail redis "no PONG"; fi

# shellcheck disable=SC2016 # JavaScript template literals
ready=$(timeout 10 node -e '
  fetch(`http://127.0.0.1:${process.argv[1]}/health/ready`).then(async (r) => {
    const body = await r.json();
    const bad = Object.entries(body.checks ?? {}).filter(([, c]) => !c.ok).map(([n, c]) => `${n}=${c.state}`);
    const notes = Object.entries(body.checks ?? {}).filter(([, c]) => c.warning).map(([n, c]) => `${n}: ${c.warning}`);
    console.log(r.status === 200 ? ["ready", ...notes].join("; ") : `not ready: ${bad.join(", ")}`);
  }).catch((e) => console.log(`unreachable: ${e.cause?.code ?? e.message}`));
' "$PORT" 2>&1)
if [[ $ready == ready* ]]; then ok "app /health/ready${ready#ready}"; else fail app "$ready"; fi

if ((${#broken[@]})); then
  echo "UNHEALTHY: ${broken[*]}"
  exit 1
fi
echo "HEALTHY"
