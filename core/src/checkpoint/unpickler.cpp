// The unpickler of checkpoint files: pickle protocols 2-5 as torch.save and TorchScript write
// them (Lib/pickletools.py documents the opcodes). It builds PickleValues and runs nothing:
// globals are names, and REDUCE/NEWOBJ interpret the few callables torch.save emits (tensor and
// parameter rebuilding, OrderedDict, TorchScript's list builders, torch.device/Size, NumPy
// scalars in meta); any other call becomes an opaque object for the caller to accept or refuse.
#include <torch/torch.h>

#include <cstring>
#include <limits>
#include <unordered_map>

#include "checkpoint_internal.h"
#include "detkit/checkpoint.h"

namespace detkit::checkpoint_detail {

namespace {

using Kind = PickleValue::Kind;

/// The dtype of a legacy storage class (torch.FloatStorage, ...).
std::optional<at::ScalarType> storage_dtype(const std::string& name) {
  static const std::unordered_map<std::string, at::ScalarType> table = {
      {"torch.FloatStorage", at::kFloat},
      {"torch.DoubleStorage", at::kDouble},
      {"torch.HalfStorage", at::kHalf},
      {"torch.BFloat16Storage", at::kBFloat16},
      {"torch.LongStorage", at::kLong},
      {"torch.IntStorage", at::kInt},
      {"torch.ShortStorage", at::kShort},
      {"torch.CharStorage", at::kChar},
      {"torch.ByteStorage", at::kByte},
      {"torch.BoolStorage", at::kBool},
      {"torch.ComplexFloatStorage", at::kComplexFloat},
      {"torch.ComplexDoubleStorage", at::kComplexDouble},
      {"torch.UntypedStorage", at::kByte},
  };
  const auto found = table.find(name);
  if (found == table.end()) return std::nullopt;
  return found->second;
}

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

/// At most this many values per pickle (about 1 GiB), so that memory stays bounded whatever
/// the pickle's size; RetinaNet-R50's data.pkl builds under 10000.
constexpr size_t kMaxValues = size_t{1} << 23;

/// One run of the unpickler over `data`.
class Unpickler {
 public:
  Unpickler(std::string_view data, const std::string& what, PickleArena& arena,
            const StorageLoader& load_storage)
      : data_(data), what_(what), arena_(arena), load_storage_(load_storage) {}

  PickleValue* run();

 private:
  [[noreturn]] void fail(const std::string& message) const {
    throw CheckpointError(what_ + ": " + message + " (pickle byte " + std::to_string(opcode_at_) +
                          ")");
  }
  std::string_view take(uint64_t n) {
    if (n > data_.size() - pos_) fail("the pickle ends inside an opcode (truncated?)");
    const std::string_view out = data_.substr(pos_, n);
    pos_ += n;
    return out;
  }
  uint64_t take_uint(int width) {
    const std::string_view bytes = take(width);
    uint64_t value = 0;
    for (int i = width - 1; i >= 0; --i)
      value = (value << 8) | static_cast<unsigned char>(bytes[i]);
    return value;
  }
  std::string take_line() {
    const size_t end = data_.find('\n', pos_);
    if (end == std::string_view::npos) fail("the pickle ends inside a text line");
    std::string line(data_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return line;
  }
  PickleValue* pop() {
    if (stack_.size() <= floor()) fail("the pickle pops an empty stack");
    PickleValue* value = stack_.back();
    stack_.pop_back();
    return value;
  }
  PickleValue* top() {
    if (stack_.size() <= floor()) fail("the pickle reads an empty stack");
    return stack_.back();
  }
  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  /// The values pushed since the last MARK, which is removed.
  std::vector<PickleValue*> pop_mark() {
    if (marks_.empty()) fail("the pickle closes a MARK it never opened");
    const size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<PickleValue*> items(stack_.begin() + static_cast<std::ptrdiff_t>(mark),
                                    stack_.end());
    stack_.resize(mark);
    return items;
  }
  PickleValue* make(Kind kind) {
    if (++values_ > kMaxValues) {
      fail("the pickle builds more than " + std::to_string(kMaxValues) +
           " Python values (a checkpoint's data.pkl holds a few thousand)");
    }
    return arena_.make(kind);
  }
  PickleValue* make_string(Kind kind, std::string_view text) {
    PickleValue* value = make(kind);
    value->text = std::string(text);
    return value;
  }
  PickleValue* make_int(int64_t v) {
    PickleValue* value = make(Kind::integer);
    value->integer = v;
    return value;
  }
  PickleValue* make_sequence(Kind kind, std::vector<PickleValue*> items) {
    PickleValue* value = make(kind);
    value->items = std::move(items);
    return value;
  }
  PickleValue* memo_get(uint64_t index) {
    const auto found = memo_.find(index);
    if (found == memo_.end())
      fail("the pickle reads memo entry " + std::to_string(index) + " that it never stored");
    return found->second;
  }
  void set_item(PickleValue* dict, PickleValue* key, PickleValue* value);
  void append(PickleValue* list, const std::vector<PickleValue*>& items);
  int64_t as_int(const PickleValue* value, const char* what) {
    if (!value->is(Kind::integer))
      fail(std::string(what) + " is a " + value->type_name() + ", not an int");
    return value->integer;
  }
  std::vector<int64_t> int_tuple(const PickleValue* value, const char* what);
  PickleValue* persistent_load(PickleValue* pid);
  PickleValue* rebuild_tensor(const std::vector<PickleValue*>& args);
  PickleValue* numpy_scalar(const std::vector<PickleValue*>& args);
  PickleValue* call(PickleValue* callable, PickleValue* args);

  std::string_view data_;
  const std::string& what_;
  PickleArena& arena_;
  const StorageLoader& load_storage_;
  size_t pos_ = 0;
  size_t opcode_at_ = 0;
  std::vector<PickleValue*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PickleValue*> memo_;
  std::unordered_map<std::string, PickleValue*> storages_;
  size_t values_ = 0;
};

void Unpickler::set_item(PickleValue* dict, PickleValue* key, PickleValue* value) {
  if (!dict->is(Kind::dict)) fail("the pickle sets an item on a " + dict->type_name());
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

void Unpickler::append(PickleValue* list, const std::vector<PickleValue*>& items) {
  if (!list->is(Kind::list)) fail("the pickle appends to a " + list->type_name());
  list->items.insert(list->items.end(), items.begin(), items.end());
}

std::vector<int64_t> Unpickler::int_tuple(const PickleValue* value, const char* what) {
  if (!value->is(Kind::tuple) && !value->is(Kind::list)) {
    fail(std::string(what) + " is a " + value->type_name() + ", not a tuple of ints");
  }
  std::vector<int64_t> out;
  for (const PickleValue* item : value->items)
    out.push_back(as_int(item, what));
  return out;
}

PickleValue* Unpickler::persistent_load(PickleValue* pid) {
  // ('storage', <storage class>, key, location, numel)
  if (!pid->is(Kind::tuple) || pid->items.size() != 5 || !pid->items[0]->is(Kind::string) ||
      pid->items[0]->text != "storage" || !pid->items[1]->is(Kind::global) ||
      !pid->items[2]->is(Kind::string)) {
    fail("a persistent id is not ('storage', <class>, key, location, numel)");
  }
  const std::string& type = pid->items[1]->text;
  const auto dtype = storage_dtype(type);
  if (!dtype) fail("unsupported storage class " + type);
  const std::string& key = pid->items[2]->text;
  const int64_t numel = as_int(pid->items[4], "a storage's element count");
  const auto found = storages_.find(key);
  if (found != storages_.end()) {
    if (found->second->tensor.scalar_type() != *dtype) {
      fail("storage '" + key + "' is read as two different types");
    }
    return found->second;
  }
  if (numel < 0) fail("storage '" + key + "' has a negative size " + std::to_string(numel));
  PickleValue* storage = make(Kind::storage);
  storage->text = key;
  storage->tensor = load_storage_(key, *dtype, numel);
  storages_.emplace(key, storage);
  return storage;
}

PickleValue* Unpickler::rebuild_tensor(const std::vector<PickleValue*>& args) {
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

PickleValue* Unpickler::numpy_scalar(const std::vector<PickleValue*>& args) {
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

PickleValue* Unpickler::call(PickleValue* callable, PickleValue* args) {
  if (!callable->is(Kind::global)) fail("the pickle calls a " + callable->type_name());
  if (!args->is(Kind::tuple)) fail("the arguments of " + callable->text + " are not a tuple");
  const std::string& name = callable->text;
  const std::vector<PickleValue*>& a = args->items;
  if (name == "collections.OrderedDict") {
    PickleValue* dict = make(Kind::dict);
    if (!a.empty()) {
      if (!a[0]->is(Kind::list) && !a[0]->is(Kind::tuple)) fail("OrderedDict of a non-list");
      for (PickleValue* pair : a[0]->items) {
        if (!pair->is(Kind::tuple) || pair->items.size() != 2) fail("OrderedDict of non-pairs");
        set_item(dict, pair->items[0], pair->items[1]);
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

PickleValue* Unpickler::run() {
  while (true) {
    opcode_at_ = pos_;
    const auto op = static_cast<unsigned char>(take(1)[0]);
    switch (op) {
      case 0x80:  // PROTO
        if (take_uint(1) > 5) fail("pickle protocol above 5");
        break;
      case 0x95:  // FRAME
        take(8);
        break;
      case '.':  // STOP
        if (stack_.size() != 1 || !marks_.empty()) fail("the pickle stops with a bad stack");
        return stack_.back();
      case '(':  // MARK
        marks_.push_back(stack_.size());
        break;
      case '0':  // POP
        pop();
        break;
      case '1':  // POP_MARK
        pop_mark();
        break;
      case '2':  // DUP
        stack_.push_back(top());
        break;
      case 'N':
        stack_.push_back(make(Kind::none));
        break;
      case 0x88:
      case 0x89: {  // NEWTRUE, NEWFALSE
        PickleValue* value = make(Kind::boolean);
        value->boolean = op == 0x88;
        stack_.push_back(value);
        break;
      }
      case 'J':  // BININT
        stack_.push_back(make_int(static_cast<int32_t>(take_uint(4))));
        break;
      case 'K':  // BININT1
        stack_.push_back(make_int(static_cast<int64_t>(take_uint(1))));
        break;
      case 'M':  // BININT2
        stack_.push_back(make_int(static_cast<int64_t>(take_uint(2))));
        break;
      case 0x8a: {  // LONG1: little-endian two's complement
        const uint64_t n = take_uint(1);
        if (n > 8) fail("an integer wider than 64 bits");
        uint64_t value = n ? take_uint(static_cast<int>(n)) : 0;
        if (n > 0 && n < 8 && (value >> (8 * n - 1)) & 1) value |= ~uint64_t{0} << (8 * n);
        stack_.push_back(make_int(static_cast<int64_t>(value)));
        break;
      }
      case 'G': {  // BINFLOAT: big-endian double
        const std::string_view bytes = take(8);
        uint64_t bits = 0;
        for (const char c : bytes)
          bits = (bits << 8) | static_cast<unsigned char>(c);
        PickleValue* value = make(Kind::real);
        std::memcpy(&value->real, &bits, sizeof(double));
        stack_.push_back(value);
        break;
      }
      case 'X':   // BINUNICODE
      case 0x8c:  // SHORT_BINUNICODE
      case 0x8d:  // BINUNICODE8
      case 'T':   // BINSTRING
      case 'U':   // SHORT_BINSTRING
        stack_.push_back(make_string(Kind::string, take(take_uint(op == 0x8c || op == 'U' ? 1
                                                                  : op == 0x8d            ? 8
                                                                                          : 4))));
        break;
      case 'B':   // BINBYTES
      case 'C':   // SHORT_BINBYTES
      case 0x8e:  // BINBYTES8
      case 0x96:  // BYTEARRAY8
        stack_.push_back(make_string(Kind::bytes, take(take_uint(op == 'C'   ? 1
                                                                 : op == 'B' ? 4
                                                                             : 8))));
        break;
      case ')':
        stack_.push_back(make_sequence(Kind::tuple, {}));
        break;
      case 't':
        stack_.push_back(make_sequence(Kind::tuple, pop_mark()));
        break;
      case 0x85:
      case 0x86:
      case 0x87: {  // TUPLE1..3
        std::vector<PickleValue*> items(op - 0x84);
        for (auto it = items.rbegin(); it != items.rend(); ++it)
          *it = pop();
        stack_.push_back(make_sequence(Kind::tuple, std::move(items)));
        break;
      }
      case ']':
        stack_.push_back(make_sequence(Kind::list, {}));
        break;
      case 'l':  // LIST
        stack_.push_back(make_sequence(Kind::list, pop_mark()));
        break;
      case 0x8f:  // EMPTY_SET (kept as a list)
        stack_.push_back(make_sequence(Kind::list, {}));
        break;
      case 0x91:  // FROZENSET
        stack_.push_back(make_sequence(Kind::list, pop_mark()));
        break;
      case 'a': {  // APPEND
        PickleValue* item = pop();
        append(top(), {item});
        break;
      }
      case 'e':     // APPENDS
      case 0x90: {  // ADDITEMS
        const std::vector<PickleValue*> items = pop_mark();
        append(top(), items);
        break;
      }
      case '}':
        stack_.push_back(make(Kind::dict));
        break;
      case 'd': {  // DICT
        const std::vector<PickleValue*> items = pop_mark();
        if (items.size() % 2) fail("DICT with an odd number of items");
        PickleValue* dict = make(Kind::dict);
        for (size_t i = 0; i < items.size(); i += 2)
          set_item(dict, items[i], items[i + 1]);
        stack_.push_back(dict);
        break;
      }
      case 's': {  // SETITEM
        PickleValue* value = pop();
        PickleValue* key = pop();
        set_item(top(), key, value);
        break;
      }
      case 'u': {  // SETITEMS
        const std::vector<PickleValue*> items = pop_mark();
        if (items.size() % 2) fail("SETITEMS with an odd number of items");
        PickleValue* dict = top();
        for (size_t i = 0; i < items.size(); i += 2)
          set_item(dict, items[i], items[i + 1]);
        break;
      }
      case 'c': {  // GLOBAL
        const std::string module = take_line();
        stack_.push_back(make_string(Kind::global, module + "." + take_line()));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        PickleValue* name = pop();
        PickleValue* module = pop();
        if (!name->is(Kind::string) || !module->is(Kind::string)) fail("STACK_GLOBAL of non-str");
        stack_.push_back(make_string(Kind::global, module->text + "." + name->text));
        break;
      }
      case 'R': {  // REDUCE
        PickleValue* args = pop();
        stack_.push_back(call(pop(), args));
        break;
      }
      case 0x81: {  // NEWOBJ
        PickleValue* args = pop();
        stack_.push_back(call(pop(), args));
        break;
      }
      case 0x92: {  // NEWOBJ_EX
        pop();      // kwargs
        PickleValue* args = pop();
        stack_.push_back(call(pop(), args));
        break;
      }
      case 'b': {  // BUILD: an object's state (dict of attributes), ignored for containers
        PickleValue* state = pop();
        PickleValue* target = top();
        if (target->is(Kind::object)) {
          if (state->is(Kind::dict)) {
            target->entries = state->entries;
          } else {
            target->items.push_back(state);
          }
        }
        break;
      }
      case 'Q':  // BINPERSID
        stack_.push_back(persistent_load(pop()));
        break;
      case 'q':  // BINPUT
      case 'r':  // LONG_BINPUT
        memo_[take_uint(op == 'q' ? 1 : 4)] = top();
        break;
      case 0x94:  // MEMOIZE
        memo_[memo_.size()] = top();
        break;
      case 'h':  // BINGET
      case 'j':  // LONG_BINGET
        stack_.push_back(memo_get(take_uint(op == 'h' ? 1 : 4)));
        break;
      default: {
        char hex[8];
        std::snprintf(hex, sizeof(hex), "0x%02x", op);
        fail(std::string("unsupported pickle opcode ") + hex +
             " (not one torch.save writes; is this a checkpoint?)");
      }
    }
  }
}

}  // namespace

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

PickleValue* unpickle(std::string_view data, const std::string& what, PickleArena& arena,
                      const StorageLoader& load_storage) {
  return Unpickler(data, what, arena, load_storage).run();
}

}  // namespace detkit::checkpoint_detail
