#!/usr/bin/env bash
# outoftree.sh -- the installed SDK is enough to build a plugin out of tree,
# and the installed c360d loads it:
#   1. cmake --install the build into a private prefix;
#   2. build the installed example (share/c360/examples/hello) with CMake
#      through find_package(c360-sdk), and again with plain cc and
#      `pkg-config --cflags c360-sdk`;
#   3. check that each hello.so exports exactly one symbol, c360_plugin_entry;
#   4. run the installed c360d against a private redis-server with each
#      hello.so and check that GET /v1/plugins lists a plugin named "hello".
#
# Env: C360_SOURCE_DIR (the source tree), C360_BUILD_DIR (a configured and
# built CMake build directory).
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/integration/lib.sh
source "$here/lib.sh"

: "${C360_SOURCE_DIR:?set C360_SOURCE_DIR to the source tree}"
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

# --- 1. install ---------------------------------------------------------------
prefix=$T_DIR/prefix
cmake --install "$C360_BUILD_DIR" --prefix "$prefix" >"$T_DIR/install.log" 2>&1 ||
    t_fail "cmake --install $C360_BUILD_DIR --prefix $prefix failed"
t_ok "installed into $prefix"

C360D=$prefix/bin/c360d
[ -x "$C360D" ] || t_fail "no installed c360d at $C360D"
header=$prefix/include/c360/connector_api.h
[ -f "$header" ] || t_fail "no installed header at $header"
cmp -s "$header" "$C360_SOURCE_DIR/sdk/connector_api.h" ||
    t_fail "installed $header differs from $C360_SOURCE_DIR/sdk/connector_api.h"
example=$prefix/share/c360/examples/hello
[ -f "$example/CMakeLists.txt" ] || t_fail "no installed example at $example/CMakeLists.txt"
pc=$(find "$prefix" -name c360-sdk.pc -path '*/pkgconfig/*' | head -n 1)
[ -n "$pc" ] || t_fail "no installed c360-sdk.pc under $prefix"
[ -n "$(find "$prefix" -name c360-sdk-config.cmake)" ] ||
    t_fail "no installed c360-sdk-config.cmake under $prefix"

# --- 2a. CMake: find_package(c360-sdk) ------------------------------------------
bcm=$T_DIR/hello-cmake
{
    cmake -S "$example" -B "$bcm" -DCMAKE_PREFIX_PATH="$prefix" \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
        cmake --build "$bcm"
} >"$T_DIR/hello-cmake.log" 2>&1 || t_fail "building the installed example with CMake failed"
sdk_dir=$(sed -n 's/^c360-sdk_DIR:[A-Z]*=//p' "$bcm/CMakeCache.txt")
case "$sdk_dir" in
    "$prefix"/*) ;;
    *) t_fail "the example did not find c360-sdk in $prefix (c360-sdk_DIR=${sdk_dir:-unset})" ;;
esac
mapfile -t built < <(find "$bcm" -name CMakeFiles -prune -o -name '*.so' -type f -print)
[ "${#built[@]}" -eq 1 ] || t_fail "want one plugin from the CMake build of the example, got ${#built[@]}: ${built[*]}"
so_cmake=${built[0]}
t_check_exports "$so_cmake"
t_ok "CMake build (find_package, $sdk_dir): $(basename "$so_cmake") exports only c360_plugin_entry"

# --- 2b. plain cc + pkg-config ------------------------------------------------------
bpc=$T_DIR/hello-pkgconfig
mkdir -p "$bpc"
cflags=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --cflags c360-sdk) ||
    t_fail "pkg-config --cflags c360-sdk failed (PKG_CONFIG_PATH=$(dirname "$pc"))"
case "$cflags" in
    *"-I$prefix/"*) ;;
    *) t_fail "pkg-config --cflags c360-sdk gave '$cflags', not an include dir under $prefix" ;;
esac
so_pc=$bpc/hello.so
# shellcheck disable=SC2086 # cflags is a list of words
cc -std=c11 -Wall -Wextra -O2 -fPIC -shared -fvisibility=hidden $cflags \
    $(pkg-config --cflags jansson) -o "$so_pc" "$example"/*.c \
    $(pkg-config --libs jansson) >"$T_DIR/hello-pkgconfig.log" 2>&1 ||
    t_fail "building the installed example with cc $cflags failed"
t_check_exports "$so_pc"
t_ok "cc + pkg-config build ($cflags): hello.so exports only c360_plugin_entry"

# --- 3. the installed c360d loads each of them --------------------------------------
rport=$(t_free_port)
t_start_redis "$rport"
# A non-development Redis needs a real master key (from the environment here).
C360_MASTER_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export C360_MASTER_KEY

# t_wait_ready URL -- waits (up to 30 s) for URL to answer 200 while c360d
# ($C360D_PID) is still running.
t_wait_ready() {
    local url=$1 got=""
    for _ in $(seq 300); do
        kill -0 "$C360D_PID" 2>/dev/null || t_fail "c360d exited before $url answered 200"
        got=$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$url" || true)
        [ "$got" = 200 ] && return 0
        sleep 0.1
    done
    t_fail "$url: wanted 200, last got ${got:-nothing}"
}

for kind in cmake pkgconfig; do
    if [ "$kind" = cmake ]; then so=$so_cmake; else so=$so_pc; fi
    plugdir=$T_DIR/plugins-$kind
    mkdir -p "$plugdir"
    cp "$so" "$plugdir/hello.so"
    port=$(t_free_port)
    # A fresh store, so each start writes its own first operator key.
    redis-cli -p "$rport" flushall >/dev/null
    t_start_c360d "c360d-$kind" --redis "redis://127.0.0.1:$rport" \
        --listen "127.0.0.1:$port" --plugin-dir "$plugdir" \
        --data-dir "$T_DIR/data-$kind"
    t_wait_ready "http://127.0.0.1:$port/readyz"

    resp=$(t_http GET "http://127.0.0.1:$port/v1/plugins" \
        -H "Authorization: Bearer $(t_opkey "$T_DIR/data-$kind")")
    status=${resp%% *}
    body=${resp#* }
    [ "$status" = 200 ] || t_fail "GET /v1/plugins: status $status, body: $body"
    case "$body" in
        *'"plugins"'*) ;;
        *) t_fail "GET /v1/plugins: no \"plugins\" in $body" ;;
    esac
    # The "plugins" array alone: from its key up to a "refused" key after it.
    loaded=${body#*\"plugins\"}
    loaded=${loaded%%\"refused\"*}
    if ! grep -Eq '"name"[[:space:]]*:[[:space:]]*"hello"' <<<"$loaded"; then
        t_fail "GET /v1/plugins does not list a loaded plugin \"hello\" ($kind build): $body"
    fi
    t_ok "installed c360d loaded the $kind-built hello plugin"
    t_stop_pid "$C360D_PID"
done

t_ok "out-of-tree build against the installed SDK"
