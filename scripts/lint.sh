#!/usr/bin/env bash
# lint.sh — the static checks of scripts and deployment artefacts, given a built tree.
#
# No container engine runs on the build machines, so this checks what can be checked without
# one (the e2e tests start the same binaries the image runs):
#   1. shellcheck: scripts/*.sh, .ci/run, deploy/**/*.sh
#   2. yamllint (deploy/.yamllint) on deploy/
#   3. the compose file: `docker compose config -q` when a compose plugin works here (it needs
#      no engine); its structure is checked in 5 in any case
#   4. deploy/runtime-packages.sh on the built programs: every shared library they link belongs
#      to a Debian package, which the image's runtime stage installs
#   5. deploy/check_manifests.py: compose and Kubernetes manifests against the binaries — every
#      flag, --config key and SONAR_* variable is listed by `<program> --help` (or is on its
#      commented allow-list of planned ones), images are sonar:<project version>, probe,
#      container, Service and healthcheck ports match --listen/--health-listen, gRPC health
#      service names exist, grace periods cover the drain; the Dockerfile's build packages match
#      scripts/install-deps.sh; docs/operations.md documents every flag, variable and log event
#
# Installs nothing. Needs shellcheck, yamllint and python3 with the yaml module (Debian 12:
# apt-get install -y shellcheck yamllint — yamllint brings python3-yaml), and the programs in
# build/bin (cmake -S . -B build && cmake --build build -j2), or in $SONAR_BIN_DIR.
#
# Usage: scripts/lint.sh          exit 0 when every check passes
set -euo pipefail

cd "$(dirname "$0")/.."
PROG="lint.sh"
BIN_DIR="${SONAR_BIN_DIR:-build/bin}"

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 2; }

missing=()
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
command -v yamllint >/dev/null 2>&1 || missing+=(yamllint)
if [[ ${#missing[@]} -gt 0 ]]; then
    die "${missing[*]} not installed; on Debian 12: apt-get install -y ${missing[*]}"
fi
PYTHON=""
for candidate in python3 /usr/bin/python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import yaml' 2>/dev/null; then
        PYTHON="$candidate"
        break
    fi
done
[[ -n "$PYTHON" ]] || die "python3 with the yaml module not found; on Debian 12: apt-get install -y python3-yaml"
for program in sonar-ingest sonar-query sonarctl; do
    [[ -x "$BIN_DIR/$program" ]] \
        || die "$BIN_DIR/$program not built; run: cmake -S . -B build && cmake --build build -j2"
done

failed=()
step() {  # NAME COMMAND...
    local name="$1"
    shift
    log "$name"
    if ! "$@"; then
        failed+=("$name")
    fi
}

shell_files=(scripts/*.sh .ci/run)
while IFS= read -r -d '' file; do
    shell_files+=("$file")
done < <(find deploy -name '*.sh' -type f -print0 | sort -z)
step "shellcheck (${#shell_files[@]} files)" shellcheck "${shell_files[@]}"

step "yamllint deploy/" yamllint --strict -c deploy/.yamllint deploy

compose_config() {
    if docker compose version >/dev/null 2>&1; then
        # The secret files need not exist for a syntax check.
        SONAR_DB_PASSWORD_FILE=/dev/null SONAR_HMAC_KEY_FILE=/dev/null \
            docker compose -f deploy/compose/compose.yaml config -q
    else
        log "  docker compose is not available here; the structure is checked by check_manifests.py"
    fi
}
step "compose syntax" compose_config

runtime_packages() {
    local packages
    packages="$(deploy/runtime-packages.sh "$BIN_DIR/sonar-ingest" "$BIN_DIR/sonar-query" \
        "$BIN_DIR/sonarctl")" || return 1
    log "  runtime packages: $(tr '\n' ' ' <<<"$packages")"
}
step "runtime libraries resolve to Debian packages" runtime_packages

step "manifests against the binaries" "$PYTHON" deploy/check_manifests.py . "$BIN_DIR"

if [[ ${#failed[@]} -gt 0 ]]; then
    log "FAILED: ${failed[*]}"
    exit 1
fi
log "all checks passed"
