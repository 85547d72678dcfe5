/* startup.c - bare-metal start-up and semihosting for the facemask Cortex-M example (M7 on
 * mps2-an500, M55 on mps3-an547, under QEMU).
 *   - a 16-entry vector table; every fault prints one line and exits with code 100;
 *   - Reset_Handler turns the FPU/MVE on, copies .data, zeroes .bss, paints the stack (to measure
 *     its high-water mark), runs the C++ constructors and calls main();
 *   - a minimal semihosting layer (open/read/write/close, command line, exit with a code).
 * It does not use librdimon: rdimon's initialise_monitor_handles() sets up newlib's stdio, which
 * allocates the FILE structures with malloc, and this program must not touch the heap. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end;
extern uint32_t __stack_limit, __stack_top;
extern void __libc_init_array(void);
extern int main(void);

#define FM_STACK_PAINT 0xC0DEFACEu

void _init(void) {}
void _fini(void) {}

/* ---- semihosting (ARM "Semihosting for AArch32 and AArch64", bkpt 0xAB on M-profile) ---- */
static int sh_call(int op, void* block) {
    register int r0 __asm__("r0") = op;
    register void* r1 __asm__("r1") = block;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static size_t cstrlen(const char* s) {
    size_t n = 0;
    while (s[n]) ++n;
    return n;
}

/* Opens a host file; mode as fopen ("rb" = 1, "w" = 4). A handle >= 0, or -1. */
int fm_sh_open(const char* path, int mode) {
    uint32_t block[3] = {(uint32_t)(uintptr_t)path, (uint32_t)mode, (uint32_t)cstrlen(path)};
    return sh_call(0x01, block);
}
int fm_sh_close(int handle) {
    uint32_t block[1] = {(uint32_t)handle};
    return sh_call(0x02, block);
}
/* Bytes read (0 at the end of the file), or -1. */
long fm_sh_read(int handle, void* buf, size_t n) {
    uint32_t block[3] = {(uint32_t)handle, (uint32_t)(uintptr_t)buf, (uint32_t)n};
    const int left = sh_call(0x06, block); /* SYS_READ returns the bytes NOT read */
    return left < 0 || (size_t)left > n ? -1 : (long)(n - (size_t)left);
}
static int sh_stdout = -2;
/* Writes to QEMU's standard output (the ":tt" console). */
void fm_sh_write(const char* text, size_t n) {
    if (sh_stdout == -2) sh_stdout = fm_sh_open(":tt", 4);
    if (sh_stdout < 0 || n == 0) return;
    uint32_t block[3] = {(uint32_t)sh_stdout, (uint32_t)(uintptr_t)text, (uint32_t)n};
    (void)sh_call(0x05, block);
}
/* The command line ("program args..."), as QEMU builds it from -kernel and -append. */
int fm_sh_cmdline(char* buf, int size) {
    struct { char* buf; int len; } block = {buf, size};
    return sh_call(0x15, &block) == 0 && block.len >= 0 && block.len < size;
}
/* SYS_EXIT_EXTENDED: QEMU exits with `code` as its own exit status. */
void _exit(int code) {
    uint32_t block[2] = {0x20026u /* ADP_Stopped_ApplicationExit */, (uint32_t)code};
    for (;;) (void)sh_call(0x20, block);
}

static void fault(const char* what, size_t n) {
    fm_sh_write(what, n);
    _exit(100);
}
#define FAULT_HANDLER(name, text) \
    void name(void) { fault("\nfault: " text "\n", sizeof("\nfault: " text "\n") - 1); }
FAULT_HANDLER(NMI_Handler, "NMI")
FAULT_HANDLER(HardFault_Handler, "HardFault")
FAULT_HANDLER(MemManage_Handler, "MemManage")
FAULT_HANDLER(BusFault_Handler, "BusFault")
FAULT_HANDLER(UsageFault_Handler, "UsageFault")
FAULT_HANDLER(SecureFault_Handler, "SecureFault")
FAULT_HANDLER(Default_Handler, "unexpected exception")

/* Bytes of stack used so far (deepest point reached since reset): the painted words that were
 * overwritten, counted from the top. */
size_t fm_stack_used(void) {
    const uint32_t* p = &__stack_limit;
    while (p < &__stack_top && *p == FM_STACK_PAINT) ++p;
    return (size_t)((const char*)&__stack_top - (const char*)p);
}
size_t fm_stack_size(void) { return (size_t)((const char*)&__stack_top - (const char*)&__stack_limit); }

void Reset_Handler(void) {
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    *(volatile uint32_t*)0xE000ED88u |= 0xFu << 20; /* CPACR: CP10/CP11 (FPU and MVE) full access */
    __asm volatile("dsb\n isb");
#endif
    for (uint32_t *src = &__data_load, *dst = &__data_start; dst < &__data_end;) *dst++ = *src++;
    for (uint32_t* dst = &__bss_start; dst < &__bss_end;) *dst++ = 0;
    /* Paint the stack below the current frame (leave 256 bytes of margin). */
    uint32_t sp;
    __asm volatile("mov %0, sp" : "=r"(sp));
    for (uint32_t* p = &__stack_limit; (uintptr_t)p < sp - 256u; ++p) *p = FM_STACK_PAINT;
    __libc_init_array();
    exit(main());
}

typedef void (*vector_t)(void);
__attribute__((section(".isr_vector"), used)) const vector_t fm_vectors[16] = {
    (vector_t)&__stack_top, Reset_Handler, NMI_Handler, HardFault_Handler,
    MemManage_Handler, BusFault_Handler, UsageFault_Handler, SecureFault_Handler,
    0, 0, 0, Default_Handler /* SVCall */, Default_Handler /* DebugMon */, 0,
    Default_Handler /* PendSV */, Default_Handler /* SysTick */,
};
