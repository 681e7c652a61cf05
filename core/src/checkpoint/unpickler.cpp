// The unpickler of checkpoint files: pickle protocols 2-5 as torch.save and TorchScript write
// them (Lib/pickletools.py documents the opcodes). It builds PickleValues and runs nothing:
// globals are names, and REDUCE/NEWOBJ hand them to call_global (pickle_calls.cpp).
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

/// At most this many values per pickle (about 1 GiB), so that memory stays bounded whatever
/// the pickle's size; RetinaNet-R50's data.pkl builds under 10000.
constexpr size_t kMaxValues = size_t{1} << 23;

/// One run of the unpickler over `data`.
class Unpickler : public PickleContext {
 public:
  Unpickler(std::string_view data, const std::string& what, PickleArena& arena,
            const StorageLoader& load_storage)
      : data_(data), what_(what), arena_(arena), load_storage_(load_storage) {}

  PickleValue* run();

 private:
  [[noreturn]] void fail(const std::string& message) const override {
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
  PickleValue* make(Kind kind) override {
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
  PickleValue* persistent_load(PickleValue* pid);
  /// REDUCE / NEWOBJ: `callable(*args)` for a global callable and a tuple of arguments.
  PickleValue* call(PickleValue* callable, PickleValue* args) {
    if (!callable->is(Kind::global)) fail("the pickle calls a " + callable->type_name());
    if (!args->is(Kind::tuple)) fail("the arguments of " + callable->text + " are not a tuple");
    return call_global(*this, callable->text, args->items);
  }

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
  dict_set(dict, key, value);
}

void Unpickler::append(PickleValue* list, const std::vector<PickleValue*>& items) {
  if (!list->is(Kind::list)) fail("the pickle appends to a " + list->type_name());
  list->items.insert(list->items.end(), items.begin(), items.end());
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

PickleValue* unpickle(std::string_view data, const std::string& what, PickleArena& arena,
                      const StorageLoader& load_storage) {
  return Unpickler(data, what, arena, load_storage).run();
}

}  // namespace detkit::checkpoint_detail
