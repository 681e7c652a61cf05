// load_checkpoint / save_checkpoint: torch.save's zip layout (<name>/data.pkl, one record
// <name>/data/<key> per storage, <name>/version) read with detkit's zip reader and unpickler,
// and written with LibTorch's torch::pickle_save (the same layout, which Python's torch.load
// opens).
#include <torch/serialize.h>
#include <torch/torch.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "checkpoint_internal.h"
#include "detkit/checkpoint.h"
#include "detkit/core/checkpoint_io.h"
#include "detkit/core/file_io.h"

namespace detkit {

CheckpointError::CheckpointError(const std::string& message) : Error(message) {}
CheckpointError::~CheckpointError() = default;

namespace {

using checkpoint_detail::PickleArena;
using checkpoint_detail::PickleValue;
using checkpoint_detail::ZipArchive;
using Kind = PickleValue::Kind;

/// Containers nested deeper than this in a checkpoint are refused (a hostile file, or a cycle).
constexpr int kMaxNesting = 64;

/// The bytes of the file `path`, or CheckpointError.
std::string read_whole_file(const std::string& path) {
  std::error_code ec;
  if (const std::string problem = input_file_problem(path); !problem.empty()) {
    if (!std::filesystem::exists(std::filesystem::symlink_status(path, ec)))
      throw CheckpointError("checkpoint '" + path + "' is not a file");
    throw CheckpointError("checkpoint '" + path + "': " + problem);
  }
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  if (!file) throw CheckpointError("cannot open checkpoint '" + path + "'");
  const std::streamoff size = file.tellg();
  std::string bytes(static_cast<size_t>(size), '\0');
  file.seekg(0);
  if (!file.read(bytes.data(), size))
    throw CheckpointError("cannot read checkpoint '" + path + "'");
  return bytes;
}

/// Refuses what is not a zip archive, naming the format when it is a known one.
void check_is_zip(const std::string& path, const std::string& bytes) {
  if (bytes.empty()) throw CheckpointError("checkpoint '" + path + "' is empty");
  if (ZipArchive::looks_like_zip(bytes)) return;
  // torch.save before PyTorch 1.6 (or _use_new_zipfile_serialization=False): a pickled magic
  // number 0x1950a86a20f9469cfc6c, or a tar archive (PyTorch < 0.4).
  static const std::string legacy_magic("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19",
                                        14);
  const bool tar = bytes.size() > 262 && bytes.compare(257, 5, "ustar") == 0;
  if (bytes.compare(0, legacy_magic.size(), legacy_magic) == 0 || tar) {
    throw CheckpointError("checkpoint '" + path +
                          "' uses PyTorch's legacy (pre-1.6, non-zip) format, which detkit does "
                          "not read: re-save it with PyTorch >= 1.6, e.g. "
                          "torch.save(torch.load(old), new)");
  }
  throw CheckpointError("checkpoint '" + path + "' is not a torch.save file (not a zip archive; " +
                        std::to_string(bytes.size()) + " bytes)");
}

/// The "<dir>/" holding data.pkl: torch.save's archive folder.
std::string archive_folder(const std::string& path, const ZipArchive& zip) {
  for (const auto& name : zip.names()) {
    const size_t slash = name.find('/');
    if (slash != std::string::npos && name.compare(slash, std::string::npos, "/data.pkl") == 0) {
      return name.substr(0, slash + 1);
    }
  }
  std::vector<std::string> names = zip.names();
  if (names.size() > 5) names.resize(5);
  std::string listing;
  for (const auto& name : names)
    listing += (listing.empty() ? "" : ", ") + name;
  throw CheckpointError(
      "checkpoint '" + path +
      "' is a zip archive without data.pkl, not a torch.save file (records: " + listing + ")");
}

/// The storage tensor `key` read from its record, after checking its size.
at::Tensor read_storage(const ZipArchive& zip, const std::string& folder, const std::string& key,
                        at::ScalarType dtype, int64_t numel) {
  const std::string name = folder + "data/" + key;
  if (!zip.contains(name)) {
    throw CheckpointError("checkpoint '" + zip.path() + "' names storage '" + key +
                          "' but has no record '" + name + "'");
  }
  const std::string_view bytes = zip.record(name);
  const size_t item = c10::elementSize(dtype);
  if (static_cast<uint64_t>(numel) > bytes.size() / item) {
    throw CheckpointError("checkpoint '" + zip.path() + "': storage '" + key + "' claims " +
                          std::to_string(numel) + " elements of " + python_dtype_name(dtype) +
                          " but its record holds " + std::to_string(bytes.size()) + " bytes");
  }
  at::Tensor storage = torch::empty({numel}, torch::TensorOptions().dtype(dtype));
  if (numel > 0) std::memcpy(storage.data_ptr(), bytes.data(), numel * item);
  return storage;
}

/// A Python value as a ConfigNode (see Checkpoint::meta).
ConfigNode to_config(const PickleValue* value, const std::string& path, int depth) {
  if (depth > kMaxNesting) {
    throw CheckpointError("checkpoint '" + path + "': meta nests deeper than " +
                          std::to_string(kMaxNesting) + " levels");
  }
  switch (value->kind) {
    case Kind::none:
      return ConfigNode();
    case Kind::boolean:
      return ConfigNode(value->boolean);
    case Kind::integer:
      return ConfigNode(value->integer);
    case Kind::real:
      return ConfigNode(value->real);
    case Kind::string:
      return ConfigNode(value->text);
    case Kind::bytes:
      return ConfigNode("<bytes of length " + std::to_string(value->text.size()) + ">");
    case Kind::tuple:
    case Kind::list: {
      ConfigNode list = ConfigNode::make_list();
      for (const PickleValue* item : value->items)
        list.push_back(to_config(item, path, depth + 1));
      return list;
    }
    case Kind::dict: {
      ConfigNode map = ConfigNode::make_map();
      for (const auto& [key, item] : value->entries) {
        const ConfigNode key_node = to_config(key, path, depth + 1);
        map.set(key_node.is_string() ? key_node.as_string() : key_node.to_flow(),
                to_config(item, path, depth + 1));
      }
      return map;
    }
    case Kind::tensor: {
      std::string shape;
      for (const int64_t size : value->tensor.sizes())
        shape += (shape.empty() ? "" : ", ") + std::to_string(size);
      return ConfigNode("tensor(" + python_dtype_name(value->tensor.scalar_type()) + ", [" + shape +
                        "])");
    }
    case Kind::storage:
    case Kind::global:
    case Kind::object:
      return ConfigNode("<" + value->text + ">");
  }
  return ConfigNode();
}

/// A Python value as an IValue (see read_checkpoint_entry).
c10::IValue to_ivalue(const PickleValue* value, const std::string& path, int depth) {
  if (depth > kMaxNesting) {
    throw CheckpointError("checkpoint '" + path + "': an entry nests deeper than " +
                          std::to_string(kMaxNesting) + " levels");
  }
  switch (value->kind) {
    case Kind::none:
      return c10::IValue();
    case Kind::boolean:
      return value->boolean;
    case Kind::integer:
      return value->integer;
    case Kind::real:
      return value->real;
    case Kind::string:
    case Kind::bytes:
      return value->text;
    case Kind::tensor:
      return value->tensor;
    case Kind::tuple: {
      std::vector<c10::IValue> items;
      for (const PickleValue* item : value->items)
        items.push_back(to_ivalue(item, path, depth + 1));
      return c10::ivalue::Tuple::create(std::move(items));
    }
    case Kind::list: {
      c10::impl::GenericList list(c10::AnyType::get());
      for (const PickleValue* item : value->items)
        list.push_back(to_ivalue(item, path, depth + 1));
      return list;
    }
    case Kind::dict: {
      bool int_keys = !value->entries.empty();
      for (const auto& entry : value->entries) {
        if (!entry.first->is(Kind::integer)) int_keys = false;
        if (!entry.first->is(Kind::integer) && !entry.first->is(Kind::string)) {
          throw CheckpointError("checkpoint '" + path + "': a dict key is a " +
                                entry.first->type_name() + " (only str and int keys are read)");
        }
      }
      const c10::TypePtr key_type =
          int_keys ? c10::TypePtr(c10::IntType::get()) : c10::TypePtr(c10::StringType::get());
      c10::impl::GenericDict dict(key_type, c10::AnyType::get());
      for (const auto& [key, item] : value->entries) {
        if (!int_keys && !key->is(Kind::string)) {
          throw CheckpointError("checkpoint '" + path + "': a dict mixes int and str keys");
        }
        dict.insert_or_assign(int_keys ? c10::IValue(key->integer) : c10::IValue(key->text),
                              to_ivalue(item, path, depth + 1));
      }
      return dict;
    }
    case Kind::storage:
    case Kind::global:
    case Kind::object:
      throw CheckpointError("checkpoint '" + path + "': holds a Python object <" + value->text +
                            ">, which detkit does not read");
  }
  return c10::IValue();
}

/// The unpickled top-level value of the checkpoint at `path` (owned by `arena`).
const PickleValue* read_top(const std::string& path, PickleArena& arena);

/// Whether `name` is the class LibTorch's OutputArchive (torch::save in C++) pickles.
bool is_cpp_archive_class(const std::string& name) {
  static const std::regex pattern(R"(__torch__\.(___torch_mangle_\d+\.)?Module)");
  return std::regex_match(name, pattern);
}

/// The tensors of a C++ serialize archive (an object per module) under dotted names.
void flatten_archive(const PickleValue* object, const std::string& prefix, const std::string& path,
                     int depth, StateDict& out) {
  if (depth > kMaxNesting) {
    throw CheckpointError("checkpoint '" + path + "': modules nest deeper than " +
                          std::to_string(kMaxNesting) + " levels");
  }
  for (const auto& [key, value] : object->entries) {
    if (!key->is(Kind::string)) continue;
    if (value->is(Kind::tensor)) out.insert(prefix + key->text, value->tensor);
    if (value->is(Kind::object) && is_cpp_archive_class(value->text)) {
      flatten_archive(value, prefix + key->text + ".", path, depth + 1, out);
    }
  }
}

/// MMCV's rule: the `state_dict` entry if there is one, else the whole dict; "module." stripped.
Checkpoint interpret(const PickleValue* top, const std::string& path) {
  Checkpoint checkpoint;
  if (top->is(Kind::object) && is_cpp_archive_class(top->text)) {
    flatten_archive(top, "", path, 0, checkpoint.state_dict);
    return checkpoint;
  }
  if (top->is(Kind::object) && top->text.rfind("__torch__.", 0) == 0) {
    throw CheckpointError("checkpoint '" + path + "' is a TorchScript module (" + top->text +
                          "), not a checkpoint: save its state_dict() with torch.save instead");
  }
  if (top->is(Kind::object)) {
    throw CheckpointError("checkpoint '" + path + "' holds a pickled " + top->text +
                          " object, not a dict: save its state_dict() with torch.save instead");
  }
  if (!top->is(Kind::dict)) {
    throw CheckpointError("checkpoint '" + path + "' holds a " + top->type_name() +
                          ", not a dict: no state_dict found");
  }
  const PickleValue* weights = top;
  for (const auto& [key, value] : top->entries) {
    if (key->is(Kind::string) && key->text == "state_dict" && value->is(Kind::dict))
      weights = value;
  }
  if (weights != top) {
    for (const auto& [key, value] : top->entries) {
      const std::string name =
          key->is(Kind::string) ? key->text : to_config(key, path, 0).to_flow();
      if (name == "meta" && value->is(Kind::dict)) checkpoint.meta = to_config(value, path, 0);
      if (name != "state_dict") checkpoint.other_keys.push_back(name);
    }
  }
  for (const auto& [key, value] : weights->entries) {
    if (!key->is(Kind::string)) {
      throw CheckpointError("checkpoint '" + path + "': a state_dict key is a " + key->type_name() +
                            ", not a str");
    }
    if (!value->is(Kind::tensor)) {
      throw CheckpointError("checkpoint '" + path + "': state_dict entry '" + key->text +
                            "' is a " + value->type_name() + ", not a tensor" +
                            (weights == top ? " (the file has no 'state_dict' entry, so the whole "
                                              "dict is read as one)"
                                            : ""));
    }
    std::string name = key->text;
    if (name.rfind("module.", 0) == 0) name.erase(0, 7);
    if (checkpoint.state_dict.contains(name)) {
      throw CheckpointError("checkpoint '" + path + "': state_dict key '" + name +
                            "' appears twice (once with a 'module.' prefix)");
    }
    checkpoint.state_dict.insert(name, value->tensor);
  }
  return checkpoint;
}

/// A ConfigNode as an IValue torch::pickle_save writes (maps become dicts with str keys).
c10::IValue to_ivalue(const ConfigNode& node) {
  switch (node.type()) {
    case ConfigNode::Type::null:
      return c10::IValue();
    case ConfigNode::Type::boolean:
      return node.as_bool();
    case ConfigNode::Type::integer:
      return node.as_int();
    case ConfigNode::Type::real:
      return node.as_double();
    case ConfigNode::Type::string:
      return node.as_string();
    case ConfigNode::Type::list: {
      c10::impl::GenericList list(c10::AnyType::get());
      for (const auto& item : node.items())
        list.push_back(to_ivalue(item));
      return list;
    }
    case ConfigNode::Type::map: {
      c10::impl::GenericDict dict(c10::StringType::get(), c10::AnyType::get());
      for (const auto& entry : node.entries())
        dict.insert(entry.key, to_ivalue(entry.value));
      return dict;
    }
  }
  return c10::IValue();
}

/// The state dict as a str -> Tensor dict of CPU tensors, each owning a compact storage.
c10::IValue to_ivalue(const StateDict& state_dict) {
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& item : state_dict) {
    at::Tensor tensor = item.value().detach().to(torch::kCPU);
    if (!tensor.is_contiguous() || tensor.storage_offset() != 0 ||
        tensor.storage().nbytes() != tensor.nbytes()) {
      tensor = tensor.clone(at::MemoryFormat::Contiguous);
    }
    dict.insert(item.key(), tensor);
  }
  return dict;
}

/// Writes `value` with torch::pickle_save to a temporary file next to `path`, then renames it.
void write_atomically(const std::string& path, const c10::IValue& value) {
  const std::vector<char> bytes = torch::pickle_save(value);
  const std::string temporary = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out)
      throw CheckpointError("cannot write checkpoint '" + path + "': cannot create '" + temporary +
                            "'");
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) {
      std::filesystem::remove(temporary);
      throw CheckpointError("cannot write checkpoint '" + path + "' (disk full?)");
    }
  }
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  if (ec) {
    std::filesystem::remove(temporary);
    throw CheckpointError("cannot write checkpoint '" + path + "': " + ec.message());
  }
}

}  // namespace

std::string python_dtype_name(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat:
      return "float32";
    case at::kDouble:
      return "float64";
    case at::kHalf:
      return "float16";
    case at::kBFloat16:
      return "bfloat16";
    case at::kLong:
      return "int64";
    case at::kInt:
      return "int32";
    case at::kShort:
      return "int16";
    case at::kChar:
      return "int8";
    case at::kByte:
      return "uint8";
    case at::kBool:
      return "bool";
    case at::kComplexFloat:
      return "complex64";
    case at::kComplexDouble:
      return "complex128";
    default:
      return c10::toString(dtype);
  }
}

namespace {

const PickleValue* read_top(const std::string& path, PickleArena& arena) {
  std::string bytes = read_whole_file(path);
  check_is_zip(path, bytes);
  const ZipArchive zip(path, std::move(bytes));
  const std::string folder = archive_folder(path, zip);
  return checkpoint_detail::unpickle(
      zip.record(folder + "data.pkl"), "checkpoint '" + path + "': data.pkl", arena,
      [&](const std::string& key, at::ScalarType dtype, int64_t numel) {
        return read_storage(zip, folder, key, dtype, numel);
      });
}

}  // namespace

Checkpoint load_checkpoint(const std::string& path) {
  PickleArena arena;
  return interpret(read_top(path, arena), path);
}

std::optional<c10::IValue> read_checkpoint_entry(const std::string& path, const std::string& key) {
  PickleArena arena;
  const PickleValue* top = read_top(path, arena);
  if (!top->is(Kind::dict)) return std::nullopt;
  for (const auto& [name, value] : top->entries) {
    if (name->is(Kind::string) && name->text == key) return to_ivalue(value, path, 0);
  }
  return std::nullopt;
}

void save_checkpoint(const std::string& path, const StateDict& state_dict, const ConfigNode& meta) {
  if (!meta.is_map()) {
    throw CheckpointError("cannot write checkpoint '" + path + "': meta is a " +
                          std::string(meta.type_name()) + ", not a map");
  }
  c10::impl::GenericDict top(c10::StringType::get(), c10::AnyType::get());
  top.insert("meta", to_ivalue(meta));
  top.insert("state_dict", to_ivalue(state_dict));
  write_atomically(path, top);
}

void save_checkpoint_entries(const std::string& path, const StateDict& state_dict,
                             const ConfigNode& meta,
                             const std::vector<std::pair<std::string, c10::IValue>>& extra) {
  if (!meta.is_map()) {
    throw CheckpointError("cannot write checkpoint '" + path + "': meta is a " +
                          std::string(meta.type_name()) + ", not a map");
  }
  c10::impl::GenericDict top(c10::StringType::get(), c10::AnyType::get());
  top.insert("meta", to_ivalue(meta));
  top.insert("state_dict", to_ivalue(state_dict));
  for (const auto& [key, value] : extra)
    top.insert_or_assign(key, value);
  write_atomically(path, top);
}

void save_state_dict(const std::string& path, const StateDict& state_dict) {
  write_atomically(path, to_ivalue(state_dict));
}

}  // namespace detkit
