# Sourced by tools/demo.sh and tools/run_tests.sh: installs the Debian packages a task needs when
# they are missing (apt-get, as root) and says exactly what to install otherwise.
# Node.js 20 and npm are expected on the machine (they are not taken from apt: nodesource's
# node and Debian's nodejs package conflict).

FACEMASK_BUILD_PACKAGES="cmake ninja-build g++ python3 libxsimd-dev libstb-dev"
FACEMASK_TEST_PACKAGES="$FACEMASK_BUILD_PACKAGES doctest-dev clang emscripten libclang-rt-14-dev-wasm32 \
libc++-14-dev-wasm32 libc++abi-14-dev-wasm32 chromium gcc-arm-none-eabi libnewlib-arm-none-eabi \
libstdc++-arm-none-eabi-newlib qemu-system-arm libcpp-httplib-dev nginx pybind11-dev python3-dev python3-numpy python3-pil \
g++-aarch64-linux-gnu qemu-user libxnnpack-dev libpthreadpool-dev"
# The libFuzzer harnesses and the ThreadSanitizer build (clang's sanitizer runtimes are not a
# dependency of clang in Debian): run_tests.sh's fuzz and tsan stages, tests/fuzz/build.sh,
# tests/concurrency/tsan.sh and tools/fuzz_campaign.sh install them themselves.
FACEMASK_SANITIZER_PACKAGES="clang libclang-rt-14-dev"

# need_packages PKG...: installs the missing ones (root) or stops with the list (not root).
need_packages() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "facemask: missing Debian packages: ${missing[*]}" >&2
        echo "          install them with: sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    echo "facemask: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# need_command CMD HINT: stops with a hint when a command is not on the PATH.
need_command() {
    command -v "$1" >/dev/null 2>&1 || { echo "facemask: '$1' is needed: $2" >&2; exit 1; }
}
