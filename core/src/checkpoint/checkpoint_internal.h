// Internals of the checkpoint reader (core/src/checkpoint): a bounds-checked reader of the zip
// archives torch.save writes, and an unpickler that builds plain values (never running code).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace detkit::checkpoint_detail {

/// A zip archive held in memory, as torch.save and LibTorch's PyTorchStreamWriter write it:
/// stored (uncompressed) records, zip64 where needed; compressed records are listed but not read.
/// Every offset and size is checked against the file and every record's CRC-32 is verified; errors
/// are CheckpointError naming `path`.
class ZipArchive {
 public:
  /// Parses the central directory of `bytes` (the whole file read from `path`).
  ZipArchive(std::string path, std::string bytes);
  /// Whether `bytes` starts like a zip file (a local file header).
  static bool looks_like_zip(std::string_view bytes);
  /// The record names in directory order.
  std::vector<std::string> names() const;
  /// Whether the archive holds the record `name`.
  bool contains(const std::string& name) const { return records_.count(name) != 0; }
  /// The bytes of record `name` (a view into the file, its CRC-32 checked).
  std::string_view record(const std::string& name) const;
  const std::string& path() const { return path_; }

 private:
  struct Entry {
    uint64_t data_offset = 0;
    uint64_t size = 0;
    uint32_t crc = 0;
    /// The zip compression method (0: stored; record() reads only those).
    uint64_t method = 0;
  };
  std::string path_;
  std::string bytes_;
  std::map<std::string, Entry> records_;
  std::vector<std::string> order_;
};

/// One Python value of an unpickled checkpoint. Values live in a PickleArena and refer to each
/// other by pointer, so cycles and deep nesting built by a hostile pickle cannot overflow the
/// stack when the arena is freed.
struct PickleValue {
  enum class Kind {
    none,
    boolean,
    integer,
    real,
    string,
    bytes,
    tuple,
    list,
    dict,
    tensor,
    storage,  // a persistent storage reference (internal to _rebuild_tensor)
    global,   // a module.name the pickle imported
    object,   // an instance of a class detkit does not interpret (name + attributes)
  };
  Kind kind = Kind::none;
  bool boolean = false;
  int64_t integer = 0;
  double real = 0.0;
  /// string, bytes; the qualified name of a global or object.
  std::string text;
  /// Items of a tuple or list; an object's constructor arguments.
  std::vector<PickleValue*> items;
  /// Entries of a dict (in insertion order; a repeated key replaces the value in place); an
  /// object's attributes (from BUILD).
  std::vector<std::pair<PickleValue*, PickleValue*>> entries;
  /// A tensor, or a storage's whole 1-D tensor.
  at::Tensor tensor;

  bool is(Kind k) const { return kind == k; }
  /// The Python type name for messages ("dict", "str", "torch.Tensor", ...).
  std::string type_name() const;
};

/// Owns every value of one unpickling.
class PickleArena {
 public:
  PickleValue* make(PickleValue::Kind kind) {
    values_.emplace_back();
    values_.back().kind = kind;
    return &values_.back();
  }

 private:
  std::deque<PickleValue> values_;
};

/// What interpreting a pickled call needs from the unpickler: new values in its arena, and
/// errors that name the pickle and the byte.
class PickleContext {
 public:
  virtual ~PickleContext() = default;
  virtual PickleValue* make(PickleValue::Kind kind) = 0;
  [[noreturn]] virtual void fail(const std::string& message) const = 0;
};

/// dict[key] = value; a repeated str or int key replaces the value in place.
void dict_set(PickleValue* dict, PickleValue* key, PickleValue* value);

/// The value of the pickled call name(*args) (see pickle_calls.cpp for the callables known);
/// an unknown callable gives an opaque object. Errors go through context.fail().
PickleValue* call_global(PickleContext& context, const std::string& name,
                         const std::vector<PickleValue*>& args);

/// Returns the 1-D tensor of storage `key` (dtype and element count from the persistent id);
/// called once per key.
using StorageLoader =
    std::function<at::Tensor(const std::string& key, at::ScalarType dtype, int64_t numel)>;

/// Unpickles `data` (pickle protocols 2 to 5, as torch.save and TorchScript write them) into
/// `arena`. `what` names the data in errors ("'x.pth': data.pkl"). Throws CheckpointError for
/// a malformed pickle or an unsupported construct.
PickleValue* unpickle(std::string_view data, const std::string& what, PickleArena& arena,
                      const StorageLoader& load_storage);

}  // namespace detkit::checkpoint_detail
