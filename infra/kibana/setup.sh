#!/bin/sh
# Provisions Kibana: imports saved-objects.ndjson (the data view over the log indices logs-*, whose
# trace_id opens the trace in Jaeger, and the saved searches) and makes that data view the default.
# Run once by the `kibana-setup` Compose service (image curlimages/curl: POSIX sh and curl, no jq);
# by hand against the published Kibana:
#   KIBANA_URL=http://localhost:5601 sh infra/kibana/setup.sh
# Importing again is harmless (overwrite=true). Exits non-zero, saying why, when it cannot.
set -eu

KIBANA_URL="${KIBANA_URL:-http://kibana:5601}"
SAVED_OBJECTS="${SAVED_OBJECTS:-$(dirname "$0")/saved-objects.ndjson}"
DATA_VIEW_ID="${DATA_VIEW_ID:-observability-lab-logs}"
# How long to wait for Kibana to be available, and how to retry the import.
WAIT_SECONDS="${KIBANA_WAIT_SECONDS:-300}"
POLL_SECONDS="${KIBANA_POLL_SECONDS:-5}"
IMPORT_ATTEMPTS="${KIBANA_IMPORT_ATTEMPTS:-5}"
RETRY_SECONDS="${KIBANA_RETRY_SECONDS:-10}"

log() { printf '[kibana-setup] %s\n' "$*"; }
fail() {
  printf '[kibana-setup] ERROR: %s\n' "$*" >&2
  exit 1
}

[ -r "$SAVED_OBJECTS" ] || fail "cannot read the saved objects file $SAVED_OBJECTS"

body_file=$(mktemp)
trap 'rm -f "$body_file"' EXIT

# curl METHOD PATH [curl options…]: the HTTP status on stdout ("000" when no answer), the body in
# $body_file. Never fails, so that the callers decide.
call() {
  method=$1
  path=$2
  shift 2
  curl -sS --max-time 60 -o "$body_file" -w '%{http_code}' -X "$method" -H 'kbn-xsrf: true' "$@" \
    "$KIBANA_URL$path" 2>/dev/null || true
}

# /api/status answers before Kibana is ready; its overall level turns "available" once it is.
overall_level() {
  status=$(call GET /api/status)
  [ "$status" = 200 ] || [ "$status" = 503 ] || {
    echo "unreachable (HTTP $status)"
    return
  }
  level=$(tr -d '\n' <"$body_file" | sed -n 's/.*"overall":{[^}]*"level":"\([a-z_]*\)".*/\1/p')
  echo "${level:-unknown}"
}

log "waiting up to ${WAIT_SECONDS}s for Kibana at $KIBANA_URL to be available"
started=$(date +%s)
while :; do
  level=$(overall_level)
  [ "$level" = available ] && break
  if [ $(($(date +%s) - started)) -ge "$WAIT_SECONDS" ]; then
    fail "Kibana at $KIBANA_URL is still not available after ${WAIT_SECONDS}s (status: $level); check \`docker compose logs kibana\`"
  fi
  sleep "$POLL_SECONDS"
done
log "Kibana is available"

attempt=1
while :; do
  status=$(call POST '/api/saved_objects/_import?overwrite=true' --form "file=@$SAVED_OBJECTS")
  if [ "$status" = 200 ] && grep -q '"success":true' "$body_file"; then
    count=$(sed -n 's/.*"successCount":\([0-9]*\).*/\1/p' "$body_file")
    log "imported ${count:-the} saved objects from $SAVED_OBJECTS"
    break
  fi
  if [ "$status" = 000 ]; then reason="no answer from $KIBANA_URL"; else reason="HTTP $status: $(head -c 2000 "$body_file")"; fi
  log "import attempt $attempt of $IMPORT_ATTEMPTS failed ($reason)"
  if [ "$attempt" -ge "$IMPORT_ATTEMPTS" ]; then
    fail "could not import $SAVED_OBJECTS into Kibana at $KIBANA_URL after $IMPORT_ATTEMPTS attempts ($reason)"
  fi
  attempt=$((attempt + 1))
  sleep "$RETRY_SECONDS"
done

# Discover opens on the lab's data view. A convenience: the import above is what matters.
status=$(call POST /api/data_views/default -H 'Content-Type: application/json' \
  -d "{\"data_view_id\":\"$DATA_VIEW_ID\",\"force\":true}")
if [ "$status" = 200 ]; then
  log "default data view: $DATA_VIEW_ID"
else
  log "warning: could not make $DATA_VIEW_ID the default data view (HTTP $status): $(head -c 500 "$body_file")"
fi

log "done: Discover at http://localhost:5601/app/discover (saved searches under Open)"
