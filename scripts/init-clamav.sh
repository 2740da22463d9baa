#!/usr/bin/env bash
# supervisord's first program (one shot): makes the appliance's folders, renders clamd.conf and
# freshclam.conf for this run into RUN_DIR/clamav, and makes sure definitions exist:
# those on the volume (CLAMAV_DB_DIR), else the ones baked into the image, else a first
# freshclam run (FRESHCLAM_INIT_TIMEOUT), else, with CLAMAV_TEST_DEFINITIONS=true, the
# development set. First it probes each place definitions come from (official mirror, private
# mirror, custom URLs) and logs whether it answers. With none it says so in one line and exits 0: clamd waits for
# definitions, the app reports not ready and keeps accepting and queueing uploads.
set -euo pipefail
# shellcheck source=scripts/appliance-env.sh
source "$(dirname "$0")/appliance-env.sh"
conf_dir=$RUN_DIR/clamav
# clamd and freshclam wait for this: freshclam must not race this script's own first run.
done_marker=$conf_dir/init.done
rm -f "$done_marker"
trap 'touch "$done_marker"' EXIT

mapfile -t custom_urls < <(custom_database_urls)
mkdir -p "$conf_dir" "$CLAMAV_DB_DIR" "$CLAMAV_LOG_DIR" "$DATA_DIR" "$QUARANTINE_DIR" "$SCAN_TMP_DIR" "$LOG_DIR"
if [[ $(id -u) -eq 0 ]]; then
  chown -R "$CLAMAV_USER" "$CLAMAV_DB_DIR" "$CLAMAV_LOG_DIR" "$conf_dir"
  chown -R "$APP_USER" "$DATA_DIR" "$QUARANTINE_DIR" "$SCAN_TMP_DIR" "$LOG_DIR"
  # clamd's user is in this group and passes through DATA_DIR to read DATA_DIR/files by path.
  chgrp "$(id -gn "$APP_USER")" "$DATA_DIR"
fi
# DATA_DIR holds patient files and the database: the app user's and its group's only (the
# files inside keep their own, narrower modes); scratch copies are the app user's alone.
chmod 0750 "$DATA_DIR"
chmod 0700 "$QUARANTINE_DIR" "$SCAN_TMP_DIR"

bash "$APP_DIR/scripts/render-clamd-conf.sh" "$CLAMAV_PORT" "$CLAMAV_DB_DIR" "$conf_dir" "$CLAMAV_LOG_DIR/clamav.log" > "$conf_dir/clamd.conf.new"
mv -f "$conf_dir/clamd.conf.new" "$conf_dir/clamd.conf"
{
  grep -Ev '^(DatabaseDirectory|UpdateLogFile|PidFile|NotifyClamd|DatabaseOwner|Checks)[[:space:]]' "$APP_DIR/docker/clamav/freshclam.conf" |
    if [[ -n $CLAMAV_PRIVATE_MIRROR ]]; then grep -Ev '^(DatabaseMirror|DNSDatabaseInfo)[[:space:]]'; else cat; fi
  echo "DatabaseDirectory $CLAMAV_DB_DIR"
  echo "UpdateLogFile $CLAMAV_LOG_DIR/freshclam.log"
  echo "PidFile $conf_dir/freshclam.pid"
  echo "NotifyClamd $conf_dir/clamd.conf"
  echo "DatabaseOwner $CLAMAV_USER"
  echo "Checks $FRESHCLAM_CHECKS"
  if [[ -n $CLAMAV_PRIVATE_MIRROR ]]; then echo "PrivateMirror $CLAMAV_PRIVATE_MIRROR"; fi
  for url in "${custom_urls[@]}"; do echo "DatabaseCustomURL $url"; done
} > "$conf_dir/freshclam.conf.new"
mv -f "$conf_dir/freshclam.conf.new" "$conf_dir/freshclam.conf"
if [[ $(id -u) -eq 0 ]]; then chown "$CLAMAV_USER" "$conf_dir"/*.conf; fi

# Whether URL's host answers a TCP connection within 5 s (file: URLs: whether the file exists).
reachable() {
  local url=$1 scheme=http hostport host port
  if [[ $url == file://* ]]; then [[ -r ${url#file://} ]]; return; fi
  if [[ $url == *://* ]]; then scheme=${url%%://*}; fi
  hostport=${url#*://}
  hostport=${hostport%%/*}
  hostport=${hostport##*@}
  host=${hostport%:*}
  port=${hostport##*:}
  if [[ $host == "$hostport" ]]; then
    if [[ $scheme == https ]]; then port=443; else port=80; fi
  fi
  # shellcheck disable=SC2016 # expanded by the inner shell, from its arguments
  timeout 5 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$host" "$port" 2>/dev/null
}

# Where freshclam fetches from, each probed once; it never blocks the start: definitions on the
# volume or in the image still load, and freshclam keeps retrying on its schedule.
sources=()
if [[ -n $CLAMAV_PRIVATE_MIRROR ]]; then sources+=("$CLAMAV_PRIVATE_MIRROR")
elif [[ $CLAMAV_OFFICIAL_DATABASES == true ]]; then sources+=("https://database.clamav.net"); fi
sources+=("${custom_urls[@]}")
reached=0
for url in "${sources[@]}"; do
  if reachable "$url"; then
    reached=$((reached + 1))
    echo "init-clamav: definitions source $url: reachable"
  else
    echo "init-clamav: definitions source $url: NOT reachable (DNS, route or firewall)"
  fi
done
if [[ ${#sources[@]} -eq 0 ]]; then
  echo "init-clamav: no definitions source configured (CLAMAV_OFFICIAL_DATABASES=false, no mirror, no custom URLs): definitions change only when an operator puts files into $CLAMAV_DB_DIR"
elif [[ $reached -eq 0 ]]; then
  echo "init-clamav: no definitions source is reachable: an air-gapped site? Carrying on with the definitions at hand; freshclam retries on its schedule (set CLAMAV_PRIVATE_MIRROR for a mirror inside the site)"
fi

if has_definitions; then
  echo "init-clamav: definitions found in $CLAMAV_DB_DIR"
  exit 0
fi
if compgen -G "$CLAMAV_BAKED_DB_DIR/*" >/dev/null; then
  cp -a "$CLAMAV_BAKED_DB_DIR"/. "$CLAMAV_DB_DIR"/
  if [[ $(id -u) -eq 0 ]]; then chown -R "$CLAMAV_USER" "$CLAMAV_DB_DIR"; fi
  echo "init-clamav: definitions copied from the image ($CLAMAV_BAKED_DB_DIR)"
  exit 0
fi
echo "init-clamav: no definitions yet; running freshclam (at most ${FRESHCLAM_INIT_TIMEOUT}s)"
freshclam_args=(--config-file="$conf_dir/freshclam.conf" --foreground)
if [[ $CLAMAV_OFFICIAL_DATABASES != true ]]; then freshclam_args+=(--update-db=custom); fi
timeout "$FRESHCLAM_INIT_TIMEOUT" freshclam "${freshclam_args[@]}" >/dev/null 2>&1 || true
if has_definitions; then
  echo "init-clamav: definitions downloaded by freshclam"
  exit 0
fi
if [[ $CLAMAV_TEST_DEFINITIONS == true ]]; then
  bash "$APP_DIR/scripts/make-test-definitions.sh" "$CLAMAV_DB_DIR"
  if [[ $(id -u) -eq 0 ]]; then chown -R "$CLAMAV_USER" "$CLAMAV_DB_DIR"; fi
  echo "init-clamav: WARNING: no ClamAV definitions could be obtained; loaded the TEST definitions only (they detect test files, not malware; never for production)"
  exit 0
fi
echo "init-clamav: ERROR: no ClamAV definitions in $CLAMAV_DB_DIR, none baked into the image, and freshclam could not download any: clamd waits, uploads are queued, /health/ready reports not ready"
