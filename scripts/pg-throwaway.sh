#!/usr/bin/env bash
# pg-throwaway.sh — manage a throwaway PostgreSQL 15 cluster for tests and demos.
#
# Usage:
#   scripts/pg-throwaway.sh start   DIR   # init (if needed) + start; prints the libpq URL
#   scripts/pg-throwaway.sh stop    DIR   # fast shutdown; no error if not running
#   scripts/pg-throwaway.sh destroy DIR   # stop, then rm -rf DIR
#   scripts/pg-throwaway.sh url     DIR   # print the URL if running, exit 1 otherwise
#
# Layout of DIR:
#   data/          the cluster (initdb: superuser "sonar", UTF8, locale C, trust auth)
#   socket/        unix-socket directory
#   postgres.log   server log
#   url            postgresql://sonar@127.0.0.1:PORT/postgres (while running)
#   port           last port used (reused on restart if still free)
#
# Only the URL goes to stdout; all progress/diagnostics go to stderr.
# When run as root, the server runs as the "postgres" system user if it
# exists, otherwise as a system user "sonar-pg" (created on demand).
#
# Environment:
#   PG_BINDIR    PostgreSQL binaries (default /usr/lib/postgresql/15/bin)
#   PG_PORT_MIN  lowest port to try  (default 20000)
#   PG_PORT_MAX  highest port to try (default 31999; below the Linux ephemeral range)

set -euo pipefail

readonly PG_BINDIR="${PG_BINDIR:-/usr/lib/postgresql/15/bin}"
readonly PG_MAJOR=15
readonly DB_SUPERUSER=sonar
readonly PORT_MIN="${PG_PORT_MIN:-20000}"
readonly PORT_MAX="${PG_PORT_MAX:-31999}"
readonly START_ATTEMPTS=8
readonly MARKER=.pg-throwaway

PROG="$(basename "$0")"
readonly PROG

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
    cat >&2 <<EOF
usage: $PROG {start|stop|crash|destroy|url} DIR
       $PROG replica DIR PRIMARY_URL
  start DIR    create/init the cluster in DIR/data if needed, start it, print its URL
  stop DIR     stop the server (no error if it is not running)
  crash DIR    stop it the hard way (pg_ctl -m immediate: no checkpoint, like a crash), for
               fault tests; the next start recovers from the WAL
  destroy DIR  stop the server and remove DIR
  url DIR      print the URL if the server is running, exit 1 otherwise
  replica DIR PRIMARY_URL
               like start, but the cluster is a streaming replica of PRIMARY_URL
               (pg_basebackup -R), read-only, following the primary
EOF
    exit 2
}

# ---------------------------------------------------------------------------
# Privilege handling: PostgreSQL refuses to run as root.
# ---------------------------------------------------------------------------
RUN_USER=""   # empty: run PostgreSQL binaries as the invoking user

is_root() { [[ "$(id -u)" -eq 0 ]]; }

# Choose (and if needed create) the unprivileged user used when we are root.
pick_run_user() {
    if id -u postgres >/dev/null 2>&1; then
        RUN_USER=postgres
    else
        if ! id -u sonar-pg >/dev/null 2>&1; then
            log "creating system user sonar-pg"
            useradd --system --no-create-home --shell /usr/sbin/nologin sonar-pg \
                || die "could not create system user sonar-pg"
        fi
        RUN_USER=sonar-pg
    fi
}

# as_pg CMD...: run CMD as the PostgreSQL user (if root) or directly.
# fd 9 (the DIR lock) is closed so a daemonised postmaster cannot inherit it.
as_pg() {
    if [[ -n "$RUN_USER" ]]; then
        runuser -u "$RUN_USER" -- "$@" 9>&-
    else
        "$@" 9>&-
    fi
}

# For stop/url/destroy as root: run as whoever owns the existing data dir.
# Returns 1 if the cluster is owned by root (it cannot be running then).
adopt_data_owner() {
    is_root || return 0
    local owner
    owner="$(stat -c %U "$DATA")"
    [[ "$owner" != root ]] || return 1
    RUN_USER="$owner"
}

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
pg_bin() {
    local b="$PG_BINDIR/$1"
    [[ -x "$b" ]] || die "$b not found (install postgresql-$PG_MAJOR, or set PG_BINDIR)"
    printf '%s\n' "$b"
}

has_cluster() { [[ -f "$DATA/PG_VERSION" ]]; }

# 0 if the postmaster of DIR/data is running.
is_running() {
    has_cluster || return 1
    [[ -f "$DATA/postmaster.pid" ]] || return 1
    as_pg "$(pg_bin pg_ctl)" status -D "$DATA" >/dev/null 2>&1
}

# Port of the running server, from line 4 of postmaster.pid.
running_port() {
    local port
    port="$(sed -n 4p "$DATA/postmaster.pid" 2>/dev/null || true)"
    [[ "$port" =~ ^[0-9]+$ ]] || return 1
    printf '%s\n' "$port"
}

make_url() { printf 'postgresql://%s@127.0.0.1:%s/postgres\n' "$DB_SUPERUSER" "$1"; }

write_url() {
    local tmp="$DIR/url.tmp.$$"
    make_url "$1" >"$tmp"
    chmod 0644 "$tmp"
    mv -f "$tmp" "$DIR/url"
    printf '%s\n' "$1" >"$DIR/port"
}

PYTHON=""
if [[ -x /usr/bin/python3 ]]; then
    PYTHON=/usr/bin/python3
elif command -v python3 >/dev/null 2>&1; then
    PYTHON="$(command -v python3)"
fi

# 0 if TCP port $1 on 127.0.0.1 looks free. SO_REUSEADDR as PostgreSQL sets it: after a crash
# the old port has connections in TIME_WAIT, which must not make a restart move to another port
# (clients keep the URL they had).
port_free() {
    local p="$1"
    if [[ -n "$PYTHON" ]]; then
        "$PYTHON" - "$p" 2>/dev/null <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.close()
PY
        return
    fi
    if command -v ss >/dev/null 2>&1; then
        [[ -z "$(ss -Hltn "sport = :$p" 2>/dev/null)" ]]
        return
    fi
    # Last resort: a successful connect means something is listening.
    ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null
}

# Print a free port, preferring $1 (the previously used one) if given.
pick_port() {
    local preferred="${1:-}" p i span=$((PORT_MAX - PORT_MIN + 1))
    if [[ "$preferred" =~ ^[0-9]+$ ]] && port_free "$preferred"; then
        printf '%s\n' "$preferred"
        return 0
    fi
    for ((i = 0; i < 200; i++)); do
        p=$((PORT_MIN + (RANDOM * 32768 + RANDOM) % span))
        if port_free "$p"; then
            printf '%s\n' "$p"
            return 0
        fi
    done
    die "no free TCP port found in $PORT_MIN-$PORT_MAX"
}

# Serialise concurrent invocations on the same DIR.
lock_dir() {
    command -v flock >/dev/null 2>&1 || return 0
    exec 9>>"$DIR/.lock"
    flock -w 300 9 || die "timed out waiting for lock on $DIR/.lock"
}

# ---------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------
cmd_start() {
    local initdb pg_ctl
    initdb="$(pg_bin initdb)"
    pg_ctl="$(pg_bin pg_ctl)"

    # Keep the option string for pg_ctl -o simple and safe.
    [[ "$DIR" =~ ^[A-Za-z0-9._/+-]+$ ]] \
        || die "DIR '$DIR' contains characters not supported here (use [A-Za-z0-9._/+-])"

    mkdir -p "$DIR"
    DIR="$(cd "$DIR" && pwd -P)"
    DATA="$DIR/data"
    local sockdir="$DIR/socket"
    local sockfile="$sockdir/.s.PGSQL.65535"
    ((${#sockfile} < 100)) \
        || die "unix socket path '$sockfile' would be too long (${#sockfile} chars); use a shorter DIR"

    cd "$DIR"  # avoid 'could not change directory' when the cwd is e.g. /root
    lock_dir
    : >"$DIR/$MARKER"

    if is_root; then
        pick_run_user
        if has_cluster; then
            local owner
            owner="$(stat -c %U "$DATA")"
            if [[ "$owner" != root && "$owner" != "$RUN_USER" ]]; then
                RUN_USER="$owner"
            fi
        fi
        chown -R "$RUN_USER:" "$DIR"
        if ! runuser -u "$RUN_USER" -- test -x "$DIR" -a -w "$DIR"; then
            die "user '$RUN_USER' cannot access $DIR (a parent directory is not traversable, e.g. /root is 0700); use a directory under /tmp or the repo's var/ instead"
        fi
    fi

    if is_running; then
        local port
        port="$(running_port)" || die "server in $DATA is running but its port is unknown"
        log "server in $DIR already running on port $port"
        write_url "$port"
        make_url "$port"
        return 0
    fi

    if ! has_cluster; then
        if [[ -d "$DATA" ]] && [[ -n "$(ls -A "$DATA")" ]]; then
            die "$DATA exists, is not empty and holds no cluster (failed initdb?); remove it or run '$PROG destroy $DIR'"
        fi
        if [[ -n "$PRIMARY_URL" ]]; then
            log "copying the primary into $DATA (pg_basebackup -R)"
            as_pg "$(pg_bin pg_basebackup)" -D "$DATA" -R -X stream -c fast -d "$PRIMARY_URL" >&2 \
                || die "pg_basebackup failed"
        else
            log "initialising cluster in $DATA"
            as_pg "$initdb" -D "$DATA" -U "$DB_SUPERUSER" -E UTF8 --locale=C \
                --auth-local=trust --auth-host=trust >&2 \
                || die "initdb failed"
        fi
    fi
    local version
    version="$(<"$DATA/PG_VERSION")"
    [[ "$version" == "$PG_MAJOR" ]] \
        || die "$DATA holds a PostgreSQL $version cluster, expected $PG_MAJOR"

    mkdir -p "$sockdir"
    [[ -z "$RUN_USER" ]] || chown "$RUN_USER:" "$sockdir"

    local prev="" attempt port logsize opts
    [[ -f "$DIR/port" ]] && prev="$(<"$DIR/port")"
    for ((attempt = 1; attempt <= START_ATTEMPTS; attempt++)); do
        port="$(pick_port "$prev")"
        prev=""
        opts="-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$sockdir -c fsync=on"
        logsize=0
        [[ -f "$DIR/postgres.log" ]] && logsize="$(stat -c %s "$DIR/postgres.log")"
        log "starting server in $DIR on port $port (attempt $attempt)"
        if as_pg "$pg_ctl" start -w -t 120 -D "$DATA" -l "$DIR/postgres.log" -o "$opts" >&2; then
            write_url "$port"
            make_url "$port"
            return 0
        fi
        if is_running; then
            die "server did not become ready in time; see $DIR/postgres.log"
        fi
        # Retry with another port only if the failure was a port clash
        # (e.g. a parallel start grabbed the same port).
        if tail -c "+$((logsize + 1))" "$DIR/postgres.log" 2>/dev/null \
            | grep -qE 'could not bind|Address already in use|could not create any TCP/IP sockets'; then
            log "port $port is taken, retrying with another port"
            continue
        fi
        log "server failed to start; last lines of $DIR/postgres.log:"
        tail -n 20 "$DIR/postgres.log" >&2 2>/dev/null || true
        exit 1
    done
    die "server failed to start after $START_ATTEMPTS attempts; see $DIR/postgres.log"
}

# Resolve DIR for stop/url/destroy without creating it. Returns 1 if absent.
resolve_existing_dir() {
    [[ -d "$DIR" ]] || return 1
    DIR="$(cd "$DIR" && pwd -P)"
    DATA="$DIR/data"
    cd "$DIR"
}

cmd_stop() {
    local mode="${1:-fast}"
    if ! resolve_existing_dir || ! has_cluster; then
        log "no cluster in $DIR; nothing to stop"
        return 0
    fi
    lock_dir
    if ! adopt_data_owner || ! is_running; then
        rm -f "$DIR/url"
        log "server in $DIR is not running"
        return 0
    fi
    log "stopping server in $DIR (mode $mode)"
    if ! as_pg "$(pg_bin pg_ctl)" stop -w -t 120 -m "$mode" -D "$DATA" >&2; then
        if is_running; then
            die "could not stop server in $DIR"
        fi
    fi
    rm -f "$DIR/url"
}

cmd_destroy() {
    if [[ ! -e "$DIR" ]]; then
        log "$DIR does not exist; nothing to destroy"
        return 0
    fi
    [[ -d "$DIR" ]] || die "$DIR is not a directory"
    local abs
    abs="$(cd "$DIR" && pwd -P)"
    case "$abs" in
        / | /tmp | /root | /home | /work | /usr | /var | /etc) die "refusing to remove $abs" ;;
    esac
    if [[ ! -e "$abs/$MARKER" && -n "$(ls -A "$abs")" ]]; then
        die "$abs was not created by $PROG (no $MARKER marker); refusing to remove it"
    fi
    cmd_stop
    cd /
    log "removing $abs"
    rm -rf -- "$abs"
}

cmd_url() {
    if resolve_existing_dir && has_cluster && adopt_data_owner && is_running; then
        local port
        port="$(running_port)" || die "server in $DATA is running but its port is unknown"
        make_url "$port"
        return 0
    fi
    log "no server running in $DIR"
    return 1
}

# ---------------------------------------------------------------------------
PRIMARY_URL=""
if [[ $# -eq 3 && "$1" == replica ]]; then
    PRIMARY_URL="$3"
    set -- start "$2"
fi
[[ $# -eq 2 ]] || usage
CMD="$1"
DIR="$2"
[[ -n "$DIR" ]] || usage
DATA="$DIR/data"

case "$CMD" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    crash) cmd_stop immediate ;;
    destroy) cmd_destroy ;;
    url) cmd_url ;;
    *) usage ;;
esac
