// The callables a checkpoint's pickle may call (REDUCE / NEWOBJ), interpreted without running
// anything: torch.save's tensor and parameter rebuilding (with every size, stride and offset
// checked against the storage), collections.OrderedDict, TorchScript's list builders,
// torch.device/Size, sets, protocol 2's bytes (_codecs.encode) and NumPy scalars (MMCV's meta).
// Any other callable gives an opaque object holding its name and arguments.
#include <torch/torch.h>

#include <algorithm>
#include <cstring>

#include "checkpoint_internal.h"

namespace detkit::checkpoint_detail {

namespace {

using Kind = PickleValue::Kind;

/// The bytes of a str whose code points are all below 256 (protocol 2 pickles bytes as
/// _codecs.encode(latin-1 text, "latin1")), decoded from its UTF-8.
std::string latin1_bytes(const std::string& utf8) {
  std::string out;
  for (size_t i = 0; i < utf8.size(); ++i) {
    const auto c = static_cast<unsigned char>(utf8[i]);
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else if ((c & 0xE0) == 0xC0 && i + 1 < utf8.size()) {
      out += static_cast<char>(((c & 0x1F) << 6) | (static_cast<unsigned char>(utf8[++i]) & 0x3F));
    } else {
      out += '?';  // not latin-1: never written by pickle's bytes encoding
    }
  }
  return out;
}

/// One call's interpretation, creating values and reporting errors through the unpickler.
class PickleCalls {
 public:
  explicit PickleCalls(PickleContext& context) : context_(context) {}
  /// name(*a).
  PickleValue* call(const std::string& name, const std::vector<PickleValue*>& a);

 private:
  [[noreturn]] void fail(const std::string& message) const { context_.fail(message); }
  PickleValue* make(Kind kind) { return context_.make(kind); }
  PickleValue* make_int(int64_t v) {
    PickleValue* value = make(Kind::integer);
    value->integer = v;
    return value;
  }
  PickleValue* make_string(Kind kind, std::string text) {
    PickleValue* value = make(kind);
    value->text = std::move(text);
    return value;
  }
  PickleValue* make_sequence(Kind kind, std::vector<PickleValue*> items) {
    PickleValue* value = make(kind);
    value->items = std::move(items);
    return value;
  }
  int64_t as_int(const PickleValue* value, const char* what) const {
    if (!value->is(Kind::integer)) {
      fail(std::string(what) + " is a " + value->type_name() + ", not an int");
    }
    return value->integer;
  }
  std::vector<int64_t> int_tuple(const PickleValue* value, const char* what);
  /// torch._utils._rebuild_tensor_v2: a view of a storage, bounds-checked.
  PickleValue* rebuild_tensor(const std::vector<PickleValue*>& args);
  /// numpy.core.multiarray.scalar(dtype, bytes) of a float, int or bool; nullptr otherwise.
  PickleValue* numpy_scalar(const std::vector<PickleValue*>& args);

  PickleContext& context_;
};

std::vector<int64_t> PickleCalls::int_tuple(const PickleValue* value, const char* what) {
  if (!value->is(Kind::tuple) && !value->is(Kind::list)) {
    fail(std::string(what) + " is a " + value->type_name() + ", not a tuple of ints");
  }
  std::vector<int64_t> out;
  for (const PickleValue* item : value->items)
    out.push_back(as_int(item, what));
  return out;
}

PickleValue* PickleCalls::rebuild_tensor(const std::vector<PickleValue*>& args) {
  // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks[, metadata])
  if (args.size() < 4 || !args[0]->is(Kind::storage)) {
    fail("_rebuild_tensor is not called with (storage, offset, size, stride, ...)");
  }
  const at::Tensor& storage = args[0]->tensor;
  const int64_t offset = as_int(args[1], "a tensor's storage offset");
  const std::vector<int64_t> size = int_tuple(args[2], "a tensor's size");
  const std::vector<int64_t> stride = int_tuple(args[3], "a tensor's stride");
  const std::string where = "a tensor on storage '" + args[0]->text + "' (" +
                            std::to_string(storage.numel()) + " elements)";
  if (size.size() != stride.size()) {
    fail(where + " has " + std::to_string(size.size()) + " sizes but " +
         std::to_string(stride.size()) + " strides");
  }
  if (offset < 0 || offset > storage.numel()) {
    fail(where + " starts at offset " + std::to_string(offset) + ", outside its storage");
  }
  // The last element it reads must lie inside the storage: computed in 128 bits, no overflow.
  __int128 last = offset;
  __int128 count = 1;
  bool broadcast = false;
  for (size_t d = 0; d < size.size(); ++d) {
    if (size[d] < 0 || stride[d] < 0) {
      fail(where + " has a negative size or stride in dimension " + std::to_string(d));
    }
    if (size[d] == 0) count = 0;
    if (stride[d] == 0 && size[d] > 1) broadcast = true;
    last += static_cast<__int128>(size[d] > 0 ? size[d] - 1 : 0) * stride[d];
    if (count > 0) count = std::min<__int128>(count * size[d], __int128(1) << 62);
  }
  if (count > 0 && last >= storage.numel()) {
    fail(where + " with offset " + std::to_string(offset) + " reads past the end of its storage");
  }
  // A broadcast (stride 0) view may hold more elements than its storage; cap it so that a
  // later copy stays bounded (2^28 elements).
  if (count > storage.numel() && (!broadcast || count > (__int128(1) << 28))) {
    fail(where + " claims more elements than it can hold");
  }
  PickleValue* tensor = make(Kind::tensor);
  tensor->tensor = storage.as_strided(size, stride, offset);
  return tensor;
}

PickleValue* PickleCalls::numpy_scalar(const std::vector<PickleValue*>& args) {
  // numpy.core.multiarray.scalar(dtype, bytes): a NumPy scalar in MMCV's meta (hook_msgs).
  if (args.size() != 2 || !args[0]->is(Kind::object) || args[0]->text != "numpy.dtype" ||
      args[0]->items.empty() || !args[0]->items[0]->is(Kind::string) || !args[1]->is(Kind::bytes)) {
    return nullptr;
  }
  const std::string& code = args[0]->items[0]->text;
  const std::string& raw = args[1]->text;
  const auto read = [&](auto sample) {
    decltype(sample) value;
    if (raw.size() != sizeof(value)) fail("a NumPy " + code + " scalar has the wrong size");
    std::memcpy(&value, raw.data(), sizeof(value));
    return value;
  };
  PickleValue* out = nullptr;
  if (code == "f8") out = make(Kind::real), out->real = read(double{});
  if (code == "f4") out = make(Kind::real), out->real = read(float{});
  if (code == "i8") out = make_int(read(int64_t{}));
  if (code == "i4") out = make_int(read(int32_t{}));
  if (code == "b1") out = make(Kind::boolean), out->boolean = read(uint8_t{}) != 0;
  return out;
}

PickleValue* PickleCalls::call(const std::string& name, const std::vector<PickleValue*>& a) {
  if (name == "collections.OrderedDict") {
    PickleValue* dict = make(Kind::dict);
    if (!a.empty()) {
      if (!a[0]->is(Kind::list) && !a[0]->is(Kind::tuple)) fail("OrderedDict of a non-list");
      for (PickleValue* pair : a[0]->items) {
        if (!pair->is(Kind::tuple) || pair->items.size() != 2) fail("OrderedDict of non-pairs");
        dict_set(dict, pair->items[0], pair->items[1]);
      }
    }
    return dict;
  }
  if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
    return rebuild_tensor(a);
  }
  if (name == "torch._utils._rebuild_parameter" ||
      name == "torch._utils._rebuild_parameter_with_state") {
    if (a.empty() || !a[0]->is(Kind::tensor)) fail(name + " of a non-tensor");
    return a[0];
  }
  if (name == "torch.jit._pickle.build_intlist" || name == "torch.jit._pickle.build_doublelist" ||
      name == "torch.jit._pickle.build_boollist" || name == "torch.jit._pickle.build_tensorlist" ||
      name == "torch.jit._pickle.restore_type_tag" || name == "torch.device") {
    if (a.empty()) fail(name + " without arguments");
    return a[0];
  }
  if (name == "torch.Size" || name == "builtins.set" || name == "builtins.frozenset" ||
      name == "__builtin__.set") {
    if (a.empty()) return make_sequence(Kind::list, {});
    if (!a[0]->is(Kind::list) && !a[0]->is(Kind::tuple)) fail(name + " of a non-sequence");
    return make_sequence(Kind::list, a[0]->items);
  }
  if (name == "_codecs.encode" && a.size() == 2 && a[0]->is(Kind::string) &&
      a[1]->is(Kind::string) && a[1]->text == "latin1") {
    return make_string(Kind::bytes, latin1_bytes(a[0]->text));  // bytes under protocol 2
  }
  if (name == "numpy.core.multiarray.scalar" || name == "numpy._core.multiarray.scalar") {
    if (PickleValue* scalar = numpy_scalar(a)) return scalar;
  }
  PickleValue* object = make(Kind::object);  // anything else: a name, never run
  object->text = name;
  object->items = a;
  return object;
}

}  // namespace

void dict_set(PickleValue* dict, PickleValue* key, PickleValue* value) {
  // Keys that can repeat in a checkpoint are strings and ints; compare those by value.
  for (auto& entry : dict->entries) {
    const PickleValue* k = entry.first;
    if (k->kind == key->kind && ((k->is(Kind::string) && k->text == key->text) ||
                                 (k->is(Kind::integer) && k->integer == key->integer))) {
      entry.second = value;
      return;
    }
  }
  dict->entries.emplace_back(key, value);
}

PickleValue* call_global(PickleContext& context, const std::string& name,
                         const std::vector<PickleValue*>& args) {
  return PickleCalls(context).call(name, args);
}

std::string PickleValue::type_name() const {
  switch (kind) {
    case Kind::none:
      return "None";
    case Kind::boolean:
      return "bool";
    case Kind::integer:
      return "int";
    case Kind::real:
      return "float";
    case Kind::string:
      return "str";
    case Kind::bytes:
      return "bytes";
    case Kind::tuple:
      return "tuple";
    case Kind::list:
      return "list";
    case Kind::dict:
      return "dict";
    case Kind::tensor:
      return "torch.Tensor";
    case Kind::storage:
      return "torch storage";
    case Kind::global:
      return text;
    case Kind::object:
      return text;
  }
  return "?";
}

}  // namespace detkit::checkpoint_detail
