#!/bin/sh
# tests/dispatch/check_units.sh OBJECT... — the runtime dispatch's units share no symbol.
#
# Each unit (kernels/dispatch_unit.hpp) is compiled with its own ISA flags. Any inline function
# or template it defines outside its ISA's namespace (config.hpp: FACEMASK_ISA_TAG) would be a
# weak symbol the linker may take from the AVX-512 unit for every caller: a SIGILL on an older
# CPU, or the wrong vector width. So every global symbol a unit defines must carry its tag, or
# be one of the dispatch's own (facemask::kernels::dispatch::...).
set -eu
status=0
for obj in "$@"; do
    case "$obj" in
        *facemask_dispatch_avx512.cpp.o) tag=isa_avx512bw ;;
        *facemask_dispatch_avx2.cpp.o) tag=isa_fma3_avx2 ;;
        *facemask_dispatch_sse41.cpp.o) tag=isa_sse4_1 ;;
        *facemask_dispatch_sse2.cpp.o) tag=isa_sse2 ;;
        *) echo "check_units: unexpected object $obj" >&2; exit 2 ;;
    esac
    all=$(nm -g --defined-only "$obj" | awk '{print $3}')
    [ -n "$all" ] || { echo "check_units: $obj defines nothing" >&2; exit 2; }
    count=$(printf '%s\n' "$all" | grep -c "$tag" || true)
    bad=$(printf '%s\n' "$all" | grep -v -e "$tag" -e '^_ZN8facemask7kernels8dispatch' -e '^DW.ref.__gxx_personality_v0$' -e '^__odr_asan[.]_ZN8facemask7kernels8dispatch' || true)
    if [ -n "$bad" ]; then
        echo "$obj: symbols outside $tag (shared with other units):" >&2
        printf '%s\n' "$bad" | c++filt | sed 's/^/    /' >&2
        status=1
    else
        echo "$(basename "$obj"): $count symbols, all in $tag"
    fi
done
exit $status
