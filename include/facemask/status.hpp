// facemask/status.hpp — errors without exceptions. Every fallible call returns a Status that
// says what went wrong in words a user can act on ("blob truncated: ..."), never throws.
#pragma once
#include "config.hpp"
#include <cstdarg>

namespace facemask {

enum class Error : int {
    ok = 0,
    invalid_argument,   // a bad option or parameter (e.g. threshold out of range)
    io,                 // a file could not be opened, read or written
    bad_blob,           // a weight blob is malformed: magic, sizes, table, shapes, config
    blob_version,       // a weight blob of a format version this build cannot read
    checksum,           // a weight blob whose CRC-32 does not match (corrupted)
    selftest,           // a weight blob whose self-test gives the wrong numbers
    wrong_model,        // e.g. a classifier blob given where a detector is expected
    out_of_memory,      // FACEMASK_MALLOC returned null, or an external arena is too small
    bad_image,          // a picture that cannot be decoded, or has an unsupported layout
    too_large,          // a picture or network input beyond the configured limits
    not_loaded,         // a model used before a successful load
};

inline const char* error_name(Error e) {
    switch (e) {
        case Error::ok: return "ok";
        case Error::invalid_argument: return "invalid argument";
        case Error::io: return "I/O error";
        case Error::bad_blob: return "bad weight blob";
        case Error::blob_version: return "unsupported weight blob version";
        case Error::checksum: return "weight blob checksum mismatch";
        case Error::selftest: return "weight blob self-test failed";
        case Error::wrong_model: return "wrong kind of model";
        case Error::out_of_memory: return "out of memory";
        case Error::bad_image: return "bad image";
        case Error::too_large: return "too large";
        case Error::not_loaded: return "model not loaded";
    }
    return "unknown error";
}

// [[nodiscard]]: a call whose Status is ignored is a compiler warning (-Wunused-result; cast to
// void to ignore one on purpose).
class [[nodiscard]] Status {
public:
    Status() { message_[0] = '\0'; }

    // printf-style message; it is truncated to fit, never allocated.
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    static Status fail(Error code, const char* fmt, ...) {
        Status s;
        s.code_ = code;
        va_list args;
        va_start(args, fmt);
        std::vsnprintf(s.message_, sizeof s.message_, fmt, args);
        va_end(args);
        return s;
    }

    bool ok() const { return code_ == Error::ok; }
    explicit operator bool() const { return ok(); }
    Error code() const { return code_; }
    // The human-readable message ("" when ok).
    const char* message() const { return message_; }

private:
    Error code_ = Error::ok;
    char message_[240];
};

// Propagates a failed Status to the caller.
#define FACEMASK_TRY(expr)                         \
    do {                                           \
        ::facemask::Status fm_try_status_ = (expr); \
        if (!fm_try_status_.ok()) return fm_try_status_; \
    } while (0)

}  // namespace facemask
