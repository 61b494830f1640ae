#!/usr/bin/env bash
# runtime-packages.sh — print the Debian packages that provide the shared libraries the given
# binaries link directly (their ELF NEEDED entries), one per line, sorted.
#
# The container build (deploy/Dockerfile) runs it in the build stage and installs exactly these
# packages (and, through apt, their dependencies) in the runtime stage; scripts/lint.sh runs it on
# build/bin to check that every library resolves to a Debian package. Needs ldd, objdump
# (binutils) and dpkg-query.
#
# Usage: deploy/runtime-packages.sh BINARY...
set -euo pipefail

PROG="$(basename "$0")"
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }

[[ $# -gt 0 ]] || die "usage: $PROG BINARY..."
for tool in ldd objdump dpkg-query; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found"
done

paths=()
for binary in "$@"; do
    [[ -x "$binary" ]] || die "not an executable: $binary"
    declare -A resolved=()  # soname -> path, as the dynamic loader finds it
    while read -r name arrow path _; do
        [[ "$arrow" == "=>" ]] || continue
        [[ "$path" == "not" ]] && die "$binary: $name is not found by the dynamic loader"
        resolved["$name"]="$path"
    done < <(ldd "$binary")
    while read -r soname; do
        path="${resolved[$soname]:-}"
        [[ -n "$path" ]] || die "$binary: $soname is NEEDED but ldd did not resolve it"
        real="$(readlink -f "$path")"
        # Debian 12 is usr-merged: dpkg lists the file under /lib or under /usr/lib.
        paths+=("${real#/usr}" "/usr${real#/usr}")
    done < <(objdump -p "$binary" | awk '$1 == "NEEDED" { print $2 }')
    unset resolved
done

# One dpkg-query call for all libraries, each under both names ("pkg[:arch]: /path" per hit;
# exact paths, not globs, which would make it 40 times slower).
owners="$(dpkg-query -S "${paths[@]}" 2>/dev/null || true)"
declare -A owned=()
while IFS= read -r line; do
    owned["${line#*: }"]=1
done <<<"$owners"
for ((i = 0; i < ${#paths[@]}; i += 2)); do
    [[ -n "${owned[${paths[i]}]:-}${owned[${paths[i + 1]}]:-}" ]] \
        || die "no Debian package owns ${paths[i]}"
done
cut -d: -f1 <<<"$owners" | sort -u
