// Checkpoint entries beyond `meta` and `state_dict` (detkit/checkpoint.h): what the runner saves
// for resume_from — the optimizer's state in PyTorch's layout and the RNG state — written into
// the same torch.save zip format and read back as LibTorch IValues.
#pragma once

#include <ATen/core/ivalue.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "detkit/checkpoint.h"

namespace detkit {

/// Writes `{"meta": meta, "state_dict": state_dict, <extra>...}` to `path` with the guarantees
/// of save_checkpoint (temporary file + rename; CheckpointError naming the file on failure).
/// Extra values may be dicts (str or int keys), lists, tuples, numbers, strings, None and
/// tensors (saved on the CPU).
DETKIT_API void save_checkpoint_entries(
    const std::string& path, const StateDict& state_dict, const ConfigNode& meta,
    const std::vector<std::pair<std::string, c10::IValue>>& extra);

/// The top-level entry `key` of the checkpoint at `path` as an IValue (dict keys str or int;
/// tuples, lists, numbers, strings, None, tensors); nullopt when the file has no such entry.
/// Throws CheckpointError for an unreadable file or an entry holding other Python objects.
DETKIT_API std::optional<c10::IValue> read_checkpoint_entry(const std::string& path,
                                                            const std::string& key);

}  // namespace detkit
