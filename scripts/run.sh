#!/usr/bin/env bash
# Starts everything on this machine and shows it working, with no configuration:
# installs the Debian packages, builds, starts a throwaway PostgreSQL 15 (under /tmp, since the
# server runs as an unprivileged user who may not reach this checkout),
# starts sonar-ingest and sonar-query, streams synthetic Zeeland events through sonarctl (their
# history runs to mid-November 2022), prints the live counts of region 29 and then the
# publication "Transparantie van klantprofielen" for the third quarter of 2022, produced from the
# events as of that quarter's end: the seed document. Then keeps the services running until
# Ctrl-C (or exits at once with --no-wait).
#
#   scripts/run.sh [--no-wait]
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
wait_for_ctrl_c=1
[[ "${1:-}" == "--no-wait" ]] && wait_for_ctrl_c=0

log() { printf '\n== %s\n' "$*"; }

log "Installing dependencies (Debian packages)"
scripts/install-deps.sh

log "Building (build/)"
cmake -S . -B build >/dev/null
cmake --build build -j"$(nproc)" --target sonar-ingest sonar-query sonarctl

var="$root/var"
mkdir -p "$var/log"
pgdir="/tmp/sonar-run-$(id -u)/postgres"
log "Starting PostgreSQL 15 ($pgdir, empty: the demo starts from nothing each time)"
# A cluster left by an earlier run may hold events pseudonymised under another key, or another
# generation of the demo events: start clean so the figures below are exactly the seed's.
scripts/pg-throwaway.sh destroy "$pgdir" >/dev/null 2>&1 || true
url=$(scripts/pg-throwaway.sh start "$pgdir")
echo "database: $url"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  scripts/pg-throwaway.sh stop "$pgdir" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# The key that turns client refs into pseudonyms before they are stored (made once, kept in var/).
key="$var/hmac.key"
if [[ ! -s "$key" ]]; then
  (umask 077 && head -c 48 /dev/urandom | base64 -w0 >"$key")
fi

start_server() {  # name port-file [flags...]
  local name="$1" port_file="$2"
  shift 2
  rm -f "$port_file"
  # Plaintext on loopback for the demo; see README for TLS and roles.
  build/bin/"$name" --database-url "$url" --listen 127.0.0.1:0 --port-file "$port_file" \
    --plaintext "$@" \
    >>"$var/log/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    [[ -s "$port_file" ]] && return 0
    sleep 0.1
  done
  echo "$name did not start; see $var/log/$name.log" >&2
  exit 1
}
log "Starting sonar-ingest and sonar-query (logs in var/log/)"
start_server sonar-ingest "$var/ingest.port" --hmac-key-file "$key"
start_server sonar-query "$var/query.port"
ingest_addr="127.0.0.1:$(cat "$var/ingest.port")"
query_addr="127.0.0.1:$(cat "$var/query.port")"
echo "ingest: $ingest_addr   query: $query_addr"

log "Generating the Zeeland events and streaming them (twice: the second run is all duplicates)"
build/bin/sonarctl generate-seed --out "$var/zeeland-events.ndjson"
build/bin/sonarctl --addr "$ingest_addr" ingest --file "$var/zeeland-events.ndjson"
build/bin/sonarctl --addr "$ingest_addr" ingest --file "$var/zeeland-events.ndjson"

log "Live counts of region 29 (Zeeland): today's state, after the events of October-November"
build/bin/sonarctl --addr "$query_addr" live --region 29

log "The publication for region 29, third quarter 2022, from the same events as of 2022-10-01 00:00 Amsterdam time"
build/bin/sonarctl --addr "$query_addr" report --region 29 --quarter 2022-Q3
echo

if [[ $wait_for_ctrl_c == 1 ]]; then
  log "Services are running (ingest $ingest_addr, query $query_addr). Try:
   build/bin/sonarctl --addr $query_addr publish --quarter 2022-Q3
   build/bin/sonarctl --addr $query_addr report --quarter 2022-Q3 --format csv
   build/bin/sonarctl --addr $query_addr watch --region 29
Ctrl-C stops everything."
  wait
fi
