#!/usr/bin/env bash
# make-dev-secrets.sh — create the secrets deploy/compose/compose.yaml mounts, once:
#   .secrets/db-password   random database password (the postgres service sets it at initdb)
#   .secrets/hmac.key      random HMAC key for pseudonymising client refs (48 bytes, base64)
# Existing files are kept: a new HMAC key on an existing database would split every person into
# an old and a new pseudonym (docs/operations.md, "Rotating the HMAC key").
#
# Development only: compose bind-mounts the files with their host permissions, so they are made
# readable by the container's user (uid 10001) through their group when run as root, and world-
# readable otherwise.
set -euo pipefail

cd "$(dirname "$0")"
mkdir -p .secrets
chmod 0750 .secrets

make_secret() {  # FILE BYTES
    local file=".secrets/$1"
    if [[ -s "$file" ]]; then
        printf 'make-dev-secrets.sh: keeping %s\n' "$file" >&2
        return
    fi
    (umask 077 && head -c "$2" /dev/urandom | base64 -w0 >"$file")
    printf 'make-dev-secrets.sh: wrote %s\n' "$file" >&2
}

make_secret db-password 24
make_secret hmac.key 48

if [[ "$(id -u)" -eq 0 ]]; then
    chgrp 10001 .secrets .secrets/db-password .secrets/hmac.key
    chmod 0640 .secrets/db-password .secrets/hmac.key
else
    chmod 0755 .secrets
    chmod 0644 .secrets/db-password .secrets/hmac.key
fi
