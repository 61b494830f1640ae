#!/usr/bin/env bash
# Runs every test: installs the Debian packages, builds, and runs ctest. The db, grpc and e2e
# tests start their own throwaway PostgreSQL 15 (the ctest `postgres` fixture).
#
#   scripts/test.sh [ctest arguments, e.g. -L unit]
set -euo pipefail

cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build >/dev/null
cmake --build build -j"$(nproc)"
cd build
ctest --output-on-failure -j2 "$@"
