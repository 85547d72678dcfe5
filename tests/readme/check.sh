#!/bin/sh
# tests/readme/check.sh — the README's first example is a program that checks every Status:
# compiled as it stands (warnings are errors), it reports a missing picture with exit 1 and
# annotates a real one. Also: ignoring a returned Status is a compiler warning ([[nodiscard]]).
#
#   check.sh CXX SOURCE_DIR WEIGHTS_DIR PICTURE WORKDIR [STB_INCLUDE_DIR]
set -u
cxx=$1 src=$2 weights=$3 picture=$4 work=$5 stb=${6:-/usr/include}
rm -rf "$work" && mkdir -p "$work/build" && cd "$work" || exit 1
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
flags="-std=c++17 -O1 -Wall -Wextra -Werror -fno-exceptions -fno-rtti -I$src/include"
[ "$stb" = /usr/include ] || flags="$flags -isystem $stb"

# The first ```cpp block of the README, exactly as a reader copies it.
awk '/^```cpp$/ { on = 1; next } on && /^```$/ { exit } on { print }' "$src/README.md" >example.cpp
grep -q "int main" example.cpp || fail "the README's first example is not a whole program"
if $cxx $flags example.cpp -o example 2>err.txt; then
    ln -s "$weights" build/weights
    ./example >out.txt 2>err.txt
    rc=$?
    [ "$rc" -eq 1 ] || fail "README example without in.jpg: exit status $rc, expected 1"
    grep -q "in.jpg" err.txt || fail "README example without in.jpg: stderr does not name it: $(cat err.txt)"
    [ -e out.jpg ] && fail "README example without in.jpg: out.jpg was written"
    cp "$picture" in.jpg
    ./example >out.txt 2>err.txt
    rc=$?
    [ "$rc" -eq 0 ] || fail "README example on a picture: exit status $rc: $(cat err.txt)"
    [ -s out.jpg ] || fail "README example on a picture: no out.jpg"
    echo "README example: $(cat out.txt)"
else
    fail "the README's first example does not compile warning-free: $(head -20 err.txt)"
fi

# A Status that is dropped must be a warning (here an error): nodiscard on the class.
cat >ignored.cpp <<'CPP'
#include <facemask/facemask.hpp>
int main() {
    facemask::Image img;
    img.load("in.jpg");
    return 0;
}
CPP
if $cxx $flags -fsyntax-only ignored.cpp 2>err.txt; then
    fail "ignoring the Status of Image::load compiles without a warning"
else
    grep -qE "nodiscard|unused-result|unused result" err.txt || fail "ignored Status: unexpected error: $(head -5 err.txt)"
fi
echo "$failures failure(s)"
[ "$failures" -eq 0 ]
