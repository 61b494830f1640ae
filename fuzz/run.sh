#!/usr/bin/env bash
# Builds the libFuzzer target (clang, ASan) in its own build directory and runs it on the seed
# corpus (tests/data/malformed/ + fuzz/corpus/) for a while.
#
#   fuzz/run.sh [SECONDS]        default 30; CI passes a short time
#
# Env: FUZZ_BUILD_DIR (default build/fuzzer, ignored by git; not build/fuzz, which is the fuzz/
#      folder of the main build tree), CLANGXX (default clang++-14, else clang++),
#      FUZZ_JOBS (parallel build jobs, default nproc). Needs the Debian packages clang-14 and
#      libclang-rt-14-dev (libFuzzer and ASan runtimes). New inputs found go to a scratch copy of
#      the corpus, not into the checkout; a crash leaves crash-* files in the build directory and
#      exits non-zero.
set -euo pipefail

cd "$(dirname "$0")/.."
seconds="${1:-30}"
build="${FUZZ_BUILD_DIR:-build/fuzzer}"
clangxx="${CLANGXX:-}"
if [[ -z "$clangxx" ]]; then
  if command -v clang++-14 >/dev/null; then clangxx=clang++-14; else clangxx=clang++; fi
fi
command -v "$clangxx" >/dev/null || { echo "fuzz/run.sh: $clangxx not found (apt-get install clang-14 libclang-rt-14-dev)" >&2; exit 1; }

cmake -S . -B "$build" -G "Unix Makefiles" -DCMAKE_CXX_COMPILER="$clangxx" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSONAR_BUILD_TESTS=OFF \
  -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address -fno-omit-frame-pointer" >/dev/null
cmake --build "$build" --target sonar_decode_fuzzer -j"${FUZZ_JOBS:-$(nproc)}"

work="$build/fuzz-run"
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
cp tests/data/malformed/*.bin fuzz/corpus/*.bin "$work/corpus/"
echo "fuzz/run.sh: fuzzing for ${seconds}s on $(find "$work/corpus" -type f | wc -l) seeds"
# -rss_limit_mb: ASan and the growing corpus take ~0.5 GiB; more means a leak or a blow-up.
"$build/bin/sonar_decode_fuzzer" "$work/corpus" -max_total_time="$seconds" -max_len=65536 \
  -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 -artifact_prefix="$work/artifacts/"
