// main.cpp — facemask on a Cortex-M7 / Cortex-M55 under QEMU (bare metal, semihosting).
//
// Includes only the single header. The weights are const arrays in flash (generated at build time
// by tools/blob_to_c.py) that a facemask::Pipeline reads in place (Ownership::borrow; the scalar
// kernels do not repack them). Everything the engine writes lives in one static block handed to
// one Workspace (use_memory), whose size the library computed for this picture size at build time
// (Pipeline::workspace_bytes_for, by tools/arena_size -> fm_mcu_arena.h); it is checked again here.
// There is no heap: the library's allocation hook returns null, and malloc & co. are wrapped at
// link time to stop the program (exit 99).
//
// It reads a WxH binary PPM through semihosting (startup.c's own calls, not newlib's stdio, which
// would allocate; the path is the first argument after the program, e.g. qemu ... -kernel app.elf
// -append picture.ppm, else the built-in default), detects the faces at the picture's own size,
// classifies each (Pipeline::run), prints them (see app.hpp) and exits 0.
// Exit codes: 0 done; 1 engine error; 2 picture or size mismatch; 98 failed assertion; 99 heap
// use; 100 CPU fault.
#include <cstddef>
#include <cstdint>

// ---- facemask configuration: scalar, one thread, no file I/O, no heap -------------------------
extern "C" void* fm_mcu_malloc(size_t bytes);
extern "C" void fm_mcu_free(void* p);
extern "C" void fm_mcu_assert_fail(const char* expr, const char* file, int line);
#define FACEMASK_NO_SIMD
#define FACEMASK_NO_OPENMP
#define FACEMASK_NO_STDIO
#define FACEMASK_WORKSPACE_PLANS 2  // one detector input size and the classifier: 2 plans in RAM, not 4
#define FACEMASK_MALLOC(n) fm_mcu_malloc(n)
#define FACEMASK_FREE(p) fm_mcu_free(p)
#define FACEMASK_ASSERT(x) ((x) ? (void)0 : fm_mcu_assert_fail(#x, __FILE__, __LINE__))
#include "facemask.hpp"

#include "app.hpp"
#include "fm_mcu_arena.h"  // generated: FM_MCU_WIDTH/HEIGHT/TOP_K and FM_MCU_ARENA_BYTES

#ifndef FM_MCU_PICTURE
#define FM_MCU_PICTURE "picture.ppm"
#endif
#ifndef FM_MCU_BOARD
#define FM_MCU_BOARD "cortex-m"
#endif

// ---- the weights (tools/blob_to_c.py) ------------------------------------------------------------
extern "C" const unsigned char fm_detector_blob[];
extern "C" const unsigned long fm_detector_blob_size;
extern "C" const unsigned char fm_classifier_blob[];
extern "C" const unsigned long fm_classifier_blob_size;

// ---- start-up and semihosting (startup.c) ---------------------------------------------------------
extern "C" {
size_t fm_stack_used(void);
size_t fm_stack_size(void);
int fm_sh_open(const char* path, int mode);
int fm_sh_close(int handle);
long fm_sh_read(int handle, void* buf, size_t n);
void fm_sh_write(const char* text, size_t n);
int fm_sh_cmdline(char* buf, int size);
[[noreturn]] void _exit(int code);
}

namespace {

void emit(const char* text, size_t n) { fm_sh_write(text, n); }

void emit_str(const char* s) {
    size_t n = 0;
    while (s[n]) ++n;
    emit(s, n);
}

// The one block of engine memory, in its own section (.arena in the linker script), exactly the
// size the library computed. That size includes the bytes use_memory() loses aligning the block
// to 64, so the block need not be aligned; 64 just loses nothing. FM_MCU_ARENA_OFFSET (default 0)
// starts it that many bytes past a 64-byte boundary, to check exactly that.
#ifndef FM_MCU_ARENA_OFFSET
#define FM_MCU_ARENA_OFFSET 0
#endif
alignas(64) __attribute__((section(".bss.fm_arena"))) unsigned char g_arena[FM_MCU_ARENA_OFFSET + FM_MCU_ARENA_BYTES];
unsigned char* const g_block = g_arena + FM_MCU_ARENA_OFFSET;
constexpr size_t kBlockBytes = FM_MCU_ARENA_BYTES;

#if defined(FM_MCU_RGB565)
// The frame as a camera sensor writes it: RGB565, 2 bytes a pixel. The PPM file is packed into
// it a row at a time as it is read.
constexpr size_t kPictureBytes = size_t(FM_MCU_WIDTH) * FM_MCU_HEIGHT * 2;
alignas(4) unsigned char g_picture[kPictureBytes];
#else
// The picture file as read: a PPM header (< 64 bytes) and W*H*3 bytes.
constexpr size_t kPictureBytes = size_t(FM_MCU_WIDTH) * FM_MCU_HEIGHT * 3;
alignas(4) unsigned char g_picture[kPictureBytes + 64];
#endif

// The models and the workspace are static: they hold fixed-size graphs and plans (kilobytes)
// that would otherwise sit on the stack.
facemask::Pipeline g_pipeline;
facemask::Workspace g_workspace;

int g_malloc_calls = 0;

// The picture path: the second word of the command line ("program picture.ppm", as QEMU makes it
// from -kernel and -append), else the built-in default.
const char* picture_path() {
    static char cmd[512];
    if (!fm_sh_cmdline(cmd, sizeof cmd)) return FM_MCU_PICTURE;
    char* p = cmd;
    while (*p == ' ') ++p;
    while (*p && *p != ' ') ++p;  // the program name
    while (*p == ' ') ++p;
    if (!*p) return FM_MCU_PICTURE;
    char* e = p;
    while (*e && *e != ' ') ++e;
    *e = '\0';
    return p;
}

#if defined(FM_MCU_RGB565)
// Reads the PPM's header, then its rows one at a time, packing them into g_picture as RGB565;
// false if the file is not a binary PPM of this build's size.
bool read_picture_565(const char* path, int* w, int* h) {
    const int fd = fm_sh_open(path, 1 /* "rb" */);
    if (fd < 0) return false;
    static unsigned char row[FM_MCU_WIDTH * 3 + 64];
    size_t have = 0, offset = 0;
    bool ok = true;
    while (have < 64) {  // the header, and the first pixels after it
        const long k = fm_sh_read(fd, row + have, 64 - have);
        if (k <= 0) break;
        have += size_t(k);
    }
    ok = fm_mcu::parse_ppm(row, have, w, h, &offset, true) && *w == FM_MCU_WIDTH && *h == FM_MCU_HEIGHT;
    const size_t bytes = size_t(FM_MCU_WIDTH) * 3;
    if (ok) {
        have -= offset;
        std::memmove(row, row + offset, have);
    }
    for (int y = 0; ok && y < FM_MCU_HEIGHT; ++y) {
        while (have < bytes) {
            const long k = fm_sh_read(fd, row + have, bytes - have);
            if (k <= 0) break;
            have += size_t(k);
        }
        if (have < bytes) ok = false;
        else fm_mcu::pack_rgb565(row, FM_MCU_WIDTH, g_picture + size_t(y) * FM_MCU_WIDTH * 2);
        have = 0;
    }
    fm_sh_close(fd);
    return ok;
}
#else
// Reads the whole file into g_picture; its length, or -1.
long read_picture(const char* path) {
    const int fd = fm_sh_open(path, 1 /* "rb" */);
    if (fd < 0) return -1;
    size_t n = 0;
    while (n < sizeof g_picture) {
        const long k = fm_sh_read(fd, g_picture + n, sizeof g_picture - n);
        if (k <= 0) break;
        n += size_t(k);
    }
    fm_sh_close(fd);
    return long(n);
}
#endif

}  // namespace

// ---- no heap: the library's hook fails, and any malloc of the C library stops the program --------
extern "C" void* fm_mcu_malloc(size_t) {
    ++g_malloc_calls;
    return nullptr;  // facemask reports Error::out_of_memory
}
extern "C" void fm_mcu_free(void*) {}

extern "C" void fm_mcu_assert_fail(const char* expr, const char* file, int line) {
    fm_mcu::Line(emit).str("# assertion failed: ").str(expr).str(" at ").str(file).str(":").num(line).end();
    _exit(98);
}

[[noreturn]] static void heap_trap(const char* what) {
    emit_str("# error: heap use (");
    emit_str(what);
    emit_str(") in a build that must not use the heap\n");
    _exit(99);
}
extern "C" {
void* __wrap_malloc(size_t) { heap_trap("malloc"); }
void* __wrap_calloc(size_t, size_t) { heap_trap("calloc"); }
void* __wrap_realloc(void*, size_t) { heap_trap("realloc"); }
void __wrap_free(void*) { heap_trap("free"); }
void* __wrap__malloc_r(void*, size_t) { heap_trap("_malloc_r"); }
void* __wrap__calloc_r(void*, size_t, size_t) { heap_trap("_calloc_r"); }
void* __wrap__realloc_r(void*, void*, size_t) { heap_trap("_realloc_r"); }
void __wrap__free_r(void*, void*) { heap_trap("_free_r"); }
void* __wrap__sbrk(ptrdiff_t) { heap_trap("_sbrk"); }
void* __wrap__sbrk_r(void*, ptrdiff_t) { heap_trap("_sbrk_r"); }
}

int main() {
    using namespace facemask;
    fm_mcu::Line info(emit);
    info.str("# facemask ").str(FACEMASK_VERSION_STRING).str(" on ").str(FM_MCU_BOARD).str(", kernels: ").str(simd_name()).end();

    const Status st = g_pipeline.load_memory(fm_detector_blob, fm_detector_blob_size, fm_classifier_blob,
                                             fm_classifier_blob_size, Ownership::borrow);
    if (!st) {
        info.str("# error: loading the weights: ").str(st.message()).end();
        return 1;
    }

    const char* path = picture_path();
    int w = 0, h = 0;
#if defined(FM_MCU_RGB565)
    if (!read_picture_565(path, &w, &h)) {
        info.str("# error: '").str(path).str("' is not a binary PPM of ").num(FM_MCU_WIDTH).str("x")
            .num(FM_MCU_HEIGHT).end();
        return 2;
    }
    const ImageView image(g_picture, w, h, PixelFormat::rgb565);
#else
    const long n = read_picture(path);
    size_t offset = 0;
    if (n < 0 || !fm_mcu::parse_ppm(g_picture, size_t(n), &w, &h, &offset)) {
        info.str("# error: cannot read the binary PPM '").str(path).str("'").end();
        return 2;
    }
    if (w != FM_MCU_WIDTH || h != FM_MCU_HEIGHT) {
        info.str("# error: '").str(path).str("' is ").num(w).str("x").num(h).str("; this build's arena is for ")
            .num(FM_MCU_WIDTH).str("x").num(FM_MCU_HEIGHT).end();
        return 2;
    }
    const ImageView image(g_picture + offset, w, h, PixelFormat::rgb);
#endif

    // The size the library computes here must be the one the arena was built with.
    const size_t need = g_pipeline.workspace_bytes_for(w, h, fm_mcu::options(FM_MCU_TOP_K));
    info.str("# arena ").num(long(kBlockBytes)).str(" bytes at +").num(long(reinterpret_cast<uintptr_t>(g_block) % 64))
        .str(" from 64-byte alignment, weights ").num(long(fm_detector_blob_size)).str(" + ")
        .num(long(fm_classifier_blob_size)).str(" bytes in place").end();
    if (need != kBlockBytes) {
        info.str("# error: the library now needs ").num(long(need)).str(" bytes, not the ").num(long(kBlockBytes))
            .str(" fm_mcu_arena.h says: rebuild").end();
        return 2;
    }

    g_workspace.use_memory(g_block, kBlockBytes);
    const int rc = fm_mcu::run(g_pipeline, g_workspace, image, FM_MCU_TOP_K, emit);

    info.str("# stack used ").num(long(fm_stack_used())).str(" of ").num(long(fm_stack_size())).str(" bytes; library allocation requests ")
        .num(g_malloc_calls).end();
    if (g_malloc_calls != 0) return 1;
    return rc;
}
