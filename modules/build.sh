#!/usr/bin/env bash
# Build the example guest modules from C to wasm32-wasi reactors.
#
# usage: modules/build.sh [-o OUTDIR] [MODULE ...]
#
#   MODULE   a directory modules/MODULE/ holding MODULE.c (default: every such directory)
#   -o DIR   write DIR/MODULE.wasm instead of the committed modules/MODULE/MODULE.wasm
#
# Needs Debian's clang for wasm32-wasi: apt-get install clang lld wasi-libc libclang-rt-dev-wasm32
# Set CLANG to use another compiler binary (e.g. CLANG=clang-14).
#
# Module folders with a wasmfleet.toml (alarm/c, hot/c) are built by `wasmfleet build`, not here.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
clang="${CLANG:-clang}"
debian_packages="clang lld wasi-libc libclang-rt-dev-wasm32"

# Reactor: no main(); crt1-reactor.o exports _initialize, which runs C constructors
# (and populates wasi-libc's preopened directories), so hosts call it once after
# instantiation. --stack-first puts the shadow stack at address 0, so a stack overflow
# traps instead of silently overwriting static data.
cflags=(
    --target=wasm32-wasi
    -mexec-model=reactor
    -O2
    -std=c11
    -Wall -Wextra
    -I "$here/include"
    -Wl,--strip-debug
    -Wl,--stack-first
    -Wl,-z,stack-size=65536
)

die() {
    echo "build.sh: $*" >&2
    exit 1
}

usage() {
    sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

outdir=""
modules=()
while (($#)); do
    case "$1" in
        -o | --out)
            (($# >= 2)) || die "$1 needs a directory"
            outdir="$2"
            shift 2
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        -*) die "unknown option $1 (see --help)" ;;
        *)
            modules+=("$1")
            shift
            ;;
    esac
done

check_toolchain() {
    command -v "$clang" > /dev/null 2>&1 \
        || die "'$clang' not found. Install Debian's wasm toolchain: apt-get install $debian_packages"
    command -v wasm-ld > /dev/null 2>&1 \
        || die "wasm-ld (the WebAssembly linker) not found. Install: apt-get install lld"
    local libc
    libc="$("$clang" --target=wasm32-wasi -print-file-name=libc.a 2> /dev/null || true)"
    [[ "$libc" == /* && -f "$libc" ]] \
        || die "wasi-libc for wasm32-wasi not found (no libc.a in the sysroot). Install: apt-get install wasi-libc"
    local builtins
    builtins="$("$clang" --target=wasm32-wasi -print-libgcc-file-name 2> /dev/null || true)"
    [[ -f "$builtins" ]] \
        || die "compiler-rt builtins for wasm32 not found ($builtins). Install: apt-get install libclang-rt-dev-wasm32"
}

check_toolchain

if ((${#modules[@]} == 0)); then
    for src in "$here"/*/*.c; do
        name="$(basename "$(dirname "$src")")"
        [[ "$src" == "$here/$name/$name.c" ]] && modules+=("$name")
    done
fi
((${#modules[@]} > 0)) || die "no modules found under $here"

if [[ -n "$outdir" ]]; then
    mkdir -p "$outdir"
    outdir="$(cd "$outdir" && pwd)"
fi

for name in "${modules[@]}"; do
    name="${name%/}"
    src="$here/$name/$name.c"
    if [[ ! -f "$src" ]]; then
        for toml in "$here/$name"/*/wasmfleet.toml; do
            [[ -f "$toml" ]] && die "'$name' is a module folder for wasmfleet build: wasmfleet build $(dirname "$toml")"
        done
        die "unknown module '$name' (no $src)"
    fi
    out="${outdir:-$here/$name}/$name.wasm"
    # Compile from inside the module directory with a relative source name, so
    # no absolute build path can end up in the binary; write atomically.
    (cd "$here/$name" && "$clang" "${cflags[@]}" "$name.c" -o "$out.tmp") \
        || die "compiling $name failed"
    mv -f "$out.tmp" "$out"
    printf '%-10s %8d bytes  %s\n' "$name" "$(stat -c %s "$out")" "$out"
done
