// facemask/memory.hpp — the only place facemask allocates: 64-byte aligned blocks obtained
// through FACEMASK_MALLOC, owned by a move-only Buffer. Allocation failure is reported, not thrown.
#pragma once
#include "config.hpp"

namespace facemask {

constexpr size_t kAlign = 64;  // cache line and AVX-512 vector size

constexpr size_t align_up(size_t n, size_t a = kAlign) { return (n + a - 1) / a * a; }

namespace detail {

// FACEMASK_MALLOC has malloc's alignment only, so over-allocate and keep the raw pointer just
// in front of the aligned block.
inline void* aligned_malloc(size_t bytes) {
    if (bytes > SIZE_MAX - kAlign - sizeof(void*)) return nullptr;
    void* raw = FACEMASK_MALLOC(bytes + kAlign + sizeof(void*));
    if (!raw) return nullptr;
    uintptr_t p = reinterpret_cast<uintptr_t>(raw) + sizeof(void*);
    p = (p + kAlign - 1) & ~uintptr_t(kAlign - 1);
    reinterpret_cast<void**>(p)[-1] = raw;
    return reinterpret_cast<void*>(p);
}

inline void aligned_free(void* p) {
    if (p) FACEMASK_FREE(reinterpret_cast<void**>(p)[-1]);
}

}  // namespace detail

// A growable, 64-byte aligned byte block. Contents are not preserved when it grows.
class Buffer {
public:
    Buffer() = default;
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    Buffer(Buffer&& o) noexcept : data_(o.data_), size_(o.size_), owned_(o.owned_) {
        o.data_ = nullptr;
        o.size_ = 0;
        o.owned_ = false;
    }
    Buffer& operator=(Buffer&& o) noexcept {
        if (this != &o) {
            release();
            data_ = o.data_;
            size_ = o.size_;
            owned_ = o.owned_;
            o.data_ = nullptr;
            o.size_ = 0;
            o.owned_ = false;
        }
        return *this;
    }
    ~Buffer() { release(); }

    // Makes the block at least `bytes` long; false if memory is exhausted (or if the block is
    // external and too small). Never shrinks.
    bool reserve(size_t bytes) {
        if (bytes <= size_) return true;
        if (data_ && !owned_) return false;
        void* p = detail::aligned_malloc(bytes);
        if (!p) return false;
        release();
        data_ = static_cast<unsigned char*>(p);
        size_ = bytes;
        owned_ = true;
        return true;
    }

    // Uses caller-provided memory (e.g. a static arena on a microcontroller) instead of the heap.
    // The memory must stay valid while this Buffer uses it; it is aligned here to 64 bytes.
    void use_external(void* memory, size_t bytes) {
        release();
        uintptr_t p = reinterpret_cast<uintptr_t>(memory);
        uintptr_t a = (p + kAlign - 1) & ~uintptr_t(kAlign - 1);
        size_t lost = size_t(a - p);
        data_ = reinterpret_cast<unsigned char*>(a);
        size_ = bytes > lost ? bytes - lost : 0;
        owned_ = false;
    }

    void release() {
        if (owned_) detail::aligned_free(data_);
        data_ = nullptr;
        size_ = 0;
        owned_ = false;
    }

    unsigned char* data() const { return data_; }
    size_t size() const { return size_; }
    bool external() const { return data_ && !owned_; }

private:
    unsigned char* data_ = nullptr;
    size_t size_ = 0;
    bool owned_ = false;
};

}  // namespace facemask
