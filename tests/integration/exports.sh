#!/usr/bin/env bash
# exports.sh -- every plugin built in $C360_BUILD_DIR/plugins exports exactly
# one dynamic symbol, the function c360_plugin_entry (docs/plugin-abi.md):
# nothing else of a plugin may be visible to the host or to other plugins.
#
# Env: C360_BUILD_DIR (the CMake build directory).
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/integration/lib.sh
source "$here/lib.sh"

: "${C360_BUILD_DIR:?set C360_BUILD_DIR to the CMake build directory}"

# t_check_exports FILE -- fails unless FILE's only defined dynamic symbol
# (other than _init/_fini and version nodes) is the function c360_plugin_entry.
t_check_exports() {
    local so=$1 syms funcs
    syms=$(nm -D --defined-only "$so" | awk 'NF >= 3 && $2 != "A" && $3 != "_init" && $3 != "_fini" { print $2, $3 }') ||
        t_fail "nm -D failed on $so"
    funcs=$(awk '$1 == "T" || $1 == "W" || $1 == "i" { print $2 }' <<<"$syms")
    if [ "$funcs" != "c360_plugin_entry" ]; then
        t_fail "$so exports functions [$(tr '\n' ' ' <<<"$funcs")], want exactly [c360_plugin_entry]"
    fi
    if [ "$syms" != "T c360_plugin_entry" ]; then
        t_fail "$so exports more than c360_plugin_entry: [$(tr '\n' ' ' <<<"$syms")]"
    fi
}

[ -d "$C360_BUILD_DIR/plugins" ] || t_fail "no $C360_BUILD_DIR/plugins directory"
mapfile -t plugins < <(find "$C360_BUILD_DIR/plugins" -name CMakeFiles -prune -o -name '*.so' -type f -print | sort)
[ "${#plugins[@]}" -gt 0 ] || t_fail "no plugin (*.so) under $C360_BUILD_DIR/plugins"

for so in "${plugins[@]}"; do
    t_check_exports "$so"
    t_ok "$(basename "$so") exports only c360_plugin_entry"
done
t_ok "${#plugins[@]} plugin(s) checked"
