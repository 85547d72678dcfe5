// facemask/workspace.hpp — per-thread state of the models: for each model a block of memory
// holding its activation arena, cached anchors, candidate lists, results and scratch.
//
// One Workspace serves a detector and a classifier (two slots). A slot is planned for the last
// input size it saw; a call with the same size allocates nothing. Give each thread its own
// Workspace; models are shared. Without a heap, hand it one static block with use_memory():
// the slots are carved from it in the order the models first use it, so size it with the
// sum of the models' workspace_bytes().
#pragma once
#include "graph.hpp"
#include "memory.hpp"
#include "status.hpp"

namespace facemask {

class Detector;
class Classifier;

namespace detail {

// The part of a Workspace one model uses.
struct Slot {
    Buffer mem;
    uint32_t owner = 0;  // id of the model (load) the plan below belongs to; 0 = free
    uint32_t last_use = 0;
    graph::Plan plan;
    size_t offsets[6] = {};  // model-specific sections after the arena
    int capacity = 0;        // model-specific count (e.g. faces that fit)
};

}  // namespace detail

class Workspace {
public:
    Workspace() = default;
    Workspace(const Workspace&) = delete;
    Workspace& operator=(const Workspace&) = delete;
    Workspace(Workspace&&) = default;
    Workspace& operator=(Workspace&&) = default;

    // Uses `bytes` bytes at `memory` for every slot instead of the heap (kept by the caller).
    void use_memory(void* memory, size_t bytes) {
        release();
        external_.use_external(memory, bytes);
    }

    // Bytes held now, over all slots.
    size_t bytes() const { return slots_[0].mem.size() + slots_[1].mem.size(); }

    // Frees the memory (the next call plans and allocates again).
    void release() {
        for (detail::Slot& s : slots_) s = detail::Slot();
        external_used_ = 0;
    }

private:
    friend class Detector;
    friend class Classifier;

    // The slot of model `id`, taking a free or the least recently used one if it has none.
    detail::Slot& slot_for(uint32_t id) {
        ++clock_;
        detail::Slot* pick = &slots_[0];
        for (detail::Slot& s : slots_)
            if (s.owner == id) {
                s.last_use = clock_;
                return s;
            }
        for (detail::Slot& s : slots_)
            if (s.owner == 0 || s.last_use < pick->last_use) pick = &s;
        pick->owner = 0;  // the caller plans it and then sets the owner
        pick->last_use = clock_;
        return *pick;
    }

    // Makes `s` hold at least `bytes`: from the heap, or carved from the external block.
    Status reserve(detail::Slot& s, size_t bytes) {
        if (bytes <= s.mem.size()) return Status();
        if (external_.external()) {
            // A slot grows in place when it is the last one carved; an earlier one cannot move.
            size_t start = external_used_;
            if (s.mem.size() != 0) {
                start = size_t(s.mem.data() - external_.data());
                if (start + align_up(s.mem.size()) != external_used_)
                    return Status::fail(Error::out_of_memory,
                                        "workspace memory: a model needs %zu bytes, more than the %zu it was first given",
                                        bytes, s.mem.size());
            }
            const size_t left = external_.size() - start;
            if (bytes > left)
                return Status::fail(Error::out_of_memory, "workspace memory of %zu bytes is too small: %zu more needed",
                                    external_.size(), bytes - left);
            s.mem.use_external(external_.data() + start, bytes);
            external_used_ = start + align_up(bytes);
            return Status();
        }
        if (!s.mem.reserve(bytes)) return Status::fail(Error::out_of_memory, "cannot allocate a %zu-byte workspace", bytes);
        return Status();
    }

    detail::Slot slots_[2];
    Buffer external_;
    size_t external_used_ = 0;
    uint32_t clock_ = 0;
};

}  // namespace facemask
