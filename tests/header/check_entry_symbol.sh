#!/bin/sh
# check_entry_symbol.sh COMPILER STD SOURCE INCLUDE_DIR OUT_DIR
# Builds SOURCE as a plugin (-shared -fPIC -fvisibility=hidden) and checks
# that the only function it exports is c360_plugin_entry, unmangled: the
# C360_PLUGIN_ENTRY macro must give C linkage and default visibility in C
# and in C++.
set -eu
cc=$1 std=$2 src=$3 inc=$4 out=$5
mkdir -p "$out"
so="$out/$(basename "$src").$std.so"
"$cc" "-std=$std" -Wall -Wextra -pedantic -Werror -shared -fPIC \
    -fvisibility=hidden -I"$inc" -o "$so" "$src"
syms=$(nm -D --defined-only "$so" | awk '$2 == "T" || $2 == "W" || $2 == "i" { print $3 }')
echo "exported functions of $so:"
echo "$syms" | sed 's/^/  /'
if [ "$syms" != "c360_plugin_entry" ]; then
    echo "FAIL: want exactly one exported function, c360_plugin_entry" >&2
    exit 1
fi
echo "ok: only c360_plugin_entry is exported"
