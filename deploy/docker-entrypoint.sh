#!/bin/sh
# sonar-entrypoint: the image's ENTRYPOINT. Prepares what libpq needs from mounted secret files,
# then execs the command, so the program is PID 1 and receives SIGTERM itself.
#
#   SONAR_DATABASE_PASSWORD_FILE  a file holding only the database password (a Kubernetes Secret
#                                 or compose secret). It is turned into a libpq password file
#                                 (PGPASSFILE, mode 0600, under SONAR_RUNTIME_DIR, default /tmp),
#                                 so the password is neither in the URL, nor in the environment,
#                                 nor in the process list.
#
# Messages are JSON lines on stderr, like the programs' logs.
set -eu

fail() {
    printf '{"level":"error","program":"sonar-entrypoint","event":"%s","path":"%s"}\n' "$1" "$2" >&2
    exit 78  # EX_CONFIG
}

if [ "$#" -eq 0 ]; then
    set -- sonar-ingest --help
fi

if [ -n "${SONAR_DATABASE_PASSWORD_FILE:-}" ]; then
    [ -r "$SONAR_DATABASE_PASSWORD_FILE" ] \
        || fail database_password_file_unreadable "$SONAR_DATABASE_PASSWORD_FILE"
    runtime_dir="${SONAR_RUNTIME_DIR:-/tmp}"
    passfile="$runtime_dir/sonar-$$.pgpass"
    umask 077
    # $(...) drops trailing newlines (Secrets often end with one); in a password file ':' and
    # '\' are escaped with '\'.
    password="$(cat "$SONAR_DATABASE_PASSWORD_FILE")"
    [ -n "$password" ] || fail database_password_file_empty "$SONAR_DATABASE_PASSWORD_FILE"
    printf '*:*:*:*:%s\n' "$(printf '%s' "$password" | sed 's/[\\:]/\\&/g')" >"$passfile" \
        || fail database_password_file_unwritable "$passfile"
    unset password
    PGPASSFILE="$passfile"
    export PGPASSFILE
fi

exec "$@"
