#!/usr/bin/env bash
# install-deps.sh — install the Debian 12 packages sonar needs to build, test and run.
#
# Idempotent and fast: if every package is already installed, nothing is done
# (no apt-get update). Otherwise runs apt-get update + apt-get install, via
# sudo when not root.

set -euo pipefail

PACKAGES=(
    build-essential        # gcc/g++, make, libc headers
    cmake                  # build system
    pkg-config             # locating libraries from CMake
    git                    # source control / version stamping
    ca-certificates        # TLS roots for git/https
    libgrpc++-dev          # gRPC C++ runtime + headers + CMake config
    protobuf-compiler-grpc # grpc_cpp_plugin for protoc
    libprotobuf-dev        # protobuf C++ runtime + headers
    protobuf-compiler      # protoc
    libpqxx-dev            # C++ PostgreSQL client (libpqxx 6.4)
    libpq-dev              # libpq (PostgreSQL C client)
    libspdlog-dev          # logging
    libfmt-dev             # formatting (spdlog dependency)
    libcli11-dev           # command-line parsing
    libgtest-dev           # GoogleTest
    libgmock-dev           # GoogleMock
    libbenchmark-dev       # Google Benchmark
    libabsl-dev            # Abseil (gRPC dependency)
    libssl-dev             # OpenSSL
    postgresql-15          # server for tests/demos (scripts/pg-throwaway.sh)
    postgresql-client-15   # psql
    python3                # helper scripts (e.g. free-port probing)
)

PROG="$(basename "$0")"
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

command -v dpkg-query >/dev/null 2>&1 || die "dpkg-query not found; this script targets Debian 12"

# Packages not in dpkg status "install ok installed".
missing=()
for pkg in "${PACKAGES[@]}"; do
    status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
    [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
    log "all ${#PACKAGES[@]} packages already installed"
    exit 0
fi

log "missing: ${missing[*]}"

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 \
        || die "not root and sudo is not available; re-run as root to install: ${missing[*]}"
    SUDO=(sudo)
fi

"${SUDO[@]}" apt-get update
# Install only what is missing: naming already-installed packages would make
# apt upgrade them too (e.g. a postgresql-15 point release).
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
log "done"
