// facemask/workspace.hpp — per-thread state of a model: one block of memory holding the
// activation arena, the cached anchors, candidate lists, results and resampling scratch.
//
// A Workspace is planned for the last input size it saw; a call with the same size (or a
// smaller need) allocates nothing. Give each thread its own Workspace; models are shared.
// On targets without a heap, hand it a static block with use_memory(); the model's
// workspace_bytes() says how large that block must be for an input size.
#pragma once
#include "graph.hpp"
#include "memory.hpp"

namespace facemask {

class Detector;
class Classifier;

class Workspace {
public:
    Workspace() = default;
    Workspace(const Workspace&) = delete;
    Workspace& operator=(const Workspace&) = delete;
    Workspace(Workspace&&) = default;
    Workspace& operator=(Workspace&&) = default;

    // Uses `bytes` bytes at `memory` instead of the heap (kept by the caller, not freed here).
    void use_memory(void* memory, size_t bytes) {
        mem_.use_external(memory, bytes);
        owner_ = 0;
    }

    // Bytes held now.
    size_t bytes() const { return mem_.size(); }

    // Frees the memory (the next call plans and allocates again).
    void release() {
        mem_.release();
        owner_ = 0;
    }

private:
    friend class Detector;
    friend class Classifier;

    Buffer mem_;
    uint32_t owner_ = 0;  // id of the model (load) the plan below belongs to
    graph::Plan plan_;
    size_t priors_offset_ = 0, candidates_offset_ = 0, faces_offset_ = 0, scratch_offset_ = 0;
    int face_capacity_ = 0;
};

}  // namespace facemask
