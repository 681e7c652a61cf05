// YAML -> ConfigNode, built straight from yaml-cpp's parser events: a mark on every value, YAML
// 1.2 core-schema scalar typing (yaml_scalar.cpp), merge keys (<<), and bounds that make a hostile
// file fail with one clear message instead of exhausting memory or the stack: the file size, the
// nesting depth and the number of values aliases may add (a "billion laughs" alias bomb).
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/parser.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "detkit/core/config.h"
#include "detkit/core/file_io.h"
#include "detkit/core/text.h"
#include "detkit/error.h"
#include "yaml_scalar.h"

namespace detkit {

namespace {

/// Largest config file or text: real configs are a few kilobytes.
constexpr size_t kMaxConfigBytes = size_t{16} << 20;
/// Deepest nesting of lists and maps: real configs nest fewer than 10 levels.
constexpr size_t kMaxConfigDepth = 100;
/// Most values that aliases (*name) may add to one file, counting aliases inside anchored values.
constexpr size_t kMaxAliasValues = 1000000;

/// Builds the ConfigNode tree of the first YAML document from the parser's events. Anchored
/// values are kept (as ConfigNodes) so that an alias copies them; every value an alias adds is
/// counted against kMaxAliasValues.
class TreeBuilder final : public YAML::EventHandler {
 public:
  explicit TreeBuilder(std::shared_ptr<const std::string> file) : file_(std::move(file)) {
    root_.set_mark(mark_in_file(0, 0));
  }

  /// The document's value (null for an empty document).
  ConfigNode take_root() { return std::move(root_); }

  /// The location of a yaml-cpp mark (0-based) in this file.
  SourceMark mark(const YAML::Mark& at) const { return mark_in_file(at.line + 1, at.column + 1); }

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}

  void OnAnchor(const YAML::Mark&, const std::string& name) override { anchor_name_ = name; }

  void OnNull(const YAML::Mark& at, YAML::anchor_t anchor) override {
    if (expecting_key()) throw error(at, "map keys must be plain strings, got null");
    ConfigNode node;
    node.set_mark(mark(at));
    ++values_;
    finish(std::move(node), anchor, 1);
  }

  void OnScalar(const YAML::Mark& at, const std::string& tag, YAML::anchor_t anchor,
                const std::string& text) override {
    ++values_;
    if (expecting_key()) {
      set_key(text, mark(at), text == "<<" && tag == "?");
      if (anchor != YAML::NullAnchor) keep_anchor(anchor, ConfigNode(text), 1);
      return;
    }
    ConfigNode node;
    if (tag == "!" || tag == "tag:yaml.org,2002:str")
      node = ConfigNode(text);  // quoted, or explicitly a string
    else if (tag == "tag:yaml.org,2002:float")
      node = yaml::resolve_float_scalar(text, mark(at));
    else
      node = yaml::resolve_plain_scalar(text, mark(at));
    node.set_mark(mark(at));
    finish(std::move(node), anchor, 1);
  }

  void OnAlias(const YAML::Mark& at, YAML::anchor_t anchor) override {
    const auto found = anchors_.find(anchor);
    if (found == anchors_.end()) {
      throw error(at, "the alias *" + names_[anchor] + " refers to a value that contains it");
    }
    const Anchored& target = found->second;
    alias_values_ += target.values;
    if (alias_values_ > kMaxAliasValues) {
      throw error(at, "the alias *" + names_[anchor] + " makes aliases add more than " +
                          std::to_string(kMaxAliasValues) +
                          " values to the config (aliases of values that hold aliases multiply: "
                          "is this a YAML alias bomb?)");
    }
    if (expecting_key()) {
      if (!target.node.is_string()) throw error(at, "map keys must be plain strings");
      set_key(target.node.as_string(), mark(at), false);
      return;
    }
    values_ += target.values;
    attach(ConfigNode(target.node));
  }

  void OnSequenceStart(const YAML::Mark& at, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(ConfigNode::make_list(), at, anchor);
  }
  void OnSequenceEnd() override { close(); }

  void OnMapStart(const YAML::Mark& at, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(ConfigNode::make_map(), at, anchor);
  }
  void OnMapEnd() override {
    Frame& frame = stack_.back();
    for (ConfigNode& merge : frame.merges)
      apply_merge(frame, merge);
    close();
  }

  /// "nested deeper than N levels" at `at`.
  ConfigError too_deep(const YAML::Mark& at) const {
    return error(at, "the config is nested deeper than " + std::to_string(kMaxConfigDepth) +
                         " levels of lists and maps");
  }

 private:
  /// A list or map being read.
  struct Frame {
    ConfigNode node;
    YAML::anchor_t anchor = YAML::NullAnchor;
    size_t values_before = 0;  // values_ before this node, for the size of an anchored node
    // Maps only: the key waiting for its value, the position of every key, and merge keys.
    bool has_key = false;
    bool key_is_merge = false;
    std::string key;
    SourceMark key_mark;
    std::unordered_map<std::string, size_t> positions;
    std::vector<ConfigNode> merges;
  };
  /// An anchored value and how many values it holds.
  struct Anchored {
    ConfigNode node;
    size_t values = 0;
  };

  SourceMark mark_in_file(int line, int column) const {
    SourceMark out;
    out.file = file_;
    out.line = line;
    out.column = column;
    return out;
  }

  ConfigError error(const YAML::Mark& at, const std::string& message) const {
    return ConfigError(located_message(mark(at), "", message));
  }

  bool expecting_key() const {
    return !stack_.empty() && stack_.back().node.is_map() && !stack_.back().has_key;
  }

  void set_key(const std::string& key, SourceMark key_mark, bool is_merge) {
    Frame& frame = stack_.back();
    if (!is_merge) {
      const auto [previous, added] = frame.positions.emplace(key, frame.node.size());
      if (!added) {
        throw ConfigError(
            located_message(key_mark, "",
                            "duplicate key '" + key + "' (first written at " +
                                frame.node.entries()[previous->second].key_mark.str() + ")"));
      }
    }
    frame.has_key = true;
    frame.key_is_merge = is_merge;
    frame.key = key;
    frame.key_mark = std::move(key_mark);
  }

  /// Remembers the name of an anchor from the OnAnchor event that came just before its value.
  void name_anchor(YAML::anchor_t anchor) {
    if (names_.count(anchor) == 0) names_[anchor] = anchor_name_;
  }

  void keep_anchor(YAML::anchor_t anchor, const ConfigNode& node, size_t values) {
    name_anchor(anchor);
    anchors_[anchor] = Anchored{node, values};
  }

  void open(ConfigNode node, const YAML::Mark& at, YAML::anchor_t anchor) {
    if (expecting_key()) throw error(at, "map keys must be plain strings, not lists or maps");
    if (stack_.size() >= kMaxConfigDepth) throw too_deep(at);
    if (anchor != YAML::NullAnchor) name_anchor(anchor);
    node.set_mark(mark(at));
    Frame frame;
    frame.node = std::move(node);
    frame.anchor = anchor;
    frame.values_before = values_++;
    stack_.push_back(std::move(frame));
  }

  void close() {
    Frame frame = std::move(stack_.back());
    stack_.pop_back();
    finish(std::move(frame.node), frame.anchor, values_ - frame.values_before);
  }

  void finish(ConfigNode node, YAML::anchor_t anchor, size_t values) {
    if (anchor != YAML::NullAnchor) keep_anchor(anchor, node, values);
    attach(std::move(node));
  }

  /// Puts a finished value into the list or map being read (or makes it the root).
  void attach(ConfigNode node) {
    if (stack_.empty()) {
      root_ = std::move(node);
      return;
    }
    Frame& frame = stack_.back();
    if (frame.node.is_list()) {
      frame.node.items().push_back(std::move(node));
      return;
    }
    frame.has_key = false;
    if (frame.key_is_merge) {
      frame.merges.push_back(std::move(node));
      return;
    }
    frame.node.entries().push_back(
        ConfigEntry{std::move(frame.key), std::move(frame.key_mark), std::move(node)});
  }

  /// A YAML merge key (<<: *anchor): the keys of the merged map(s) the map does not set yet.
  void apply_merge(Frame& frame, ConfigNode& source) {
    if (source.is_list()) {
      for (ConfigNode& item : source.items())
        apply_merge(frame, item);
      return;
    }
    if (!source.is_map()) {
      throw ConfigError(
          located_message(source.mark(), "", "a merge key (<<) needs a map or a list of maps"));
    }
    for (ConfigEntry& entry : source.entries()) {
      if (frame.positions.emplace(entry.key, frame.node.size()).second)
        frame.node.entries().push_back(std::move(entry));
    }
  }

  std::shared_ptr<const std::string> file_;
  ConfigNode root_;
  std::vector<Frame> stack_;
  std::unordered_map<YAML::anchor_t, Anchored> anchors_;
  std::unordered_map<YAML::anchor_t, std::string> names_;
  std::string anchor_name_;  // the name of the anchor the next value carries
  size_t values_ = 0;        // values read so far, aliases counted with all they hold
  size_t alias_values_ = 0;  // values added by aliases
};

SourceMark mark_of(const YAML::Mark& at, const std::shared_ptr<const std::string>& name) {
  SourceMark mark;
  mark.file = name;
  mark.line = at.line + 1;
  mark.column = at.column + 1;
  return mark;
}

ConfigNode parse(const std::string& text, const std::shared_ptr<const std::string>& name) {
  if (text.size() > kMaxConfigBytes) {
    throw ConfigError(*name + ": the config text is " + std::to_string(text.size()) +
                      " bytes; a config may be at most " + std::to_string(kMaxConfigBytes >> 20) +
                      " MB");
  }
  std::istringstream stream(text);
  TreeBuilder builder(name);
  try {
    YAML::Parser parser(stream);
    parser.HandleNextDocument(builder);
  } catch (const YAML::DeepRecursion& e) {
    throw builder.too_deep(e.mark);
  } catch (const YAML::Exception& e) {
    throw ConfigError(located_message(mark_of(e.mark, name), "", "YAML syntax error: " + e.msg));
  }
  return builder.take_root();
}

}  // namespace

ConfigNode parse_yaml_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (const std::string problem = input_file_problem(path); !problem.empty()) {
    if (!fs::exists(fs::symlink_status(path, ec)))
      throw ConfigError("config file '" + path + "' does not exist");
    throw ConfigError("config file '" + path + "': " + problem);
  }
  const std::string extension = fs::path(path).extension().string();
  if (extension != ".yaml" && extension != ".yml" && extension != ".json") {
    throw ConfigError("config file '" + path + "': only .yaml, .yml and .json files are supported");
  }
  const uintmax_t size = fs::file_size(path, ec);
  if (!ec && size > kMaxConfigBytes) {
    throw ConfigError("config file '" + path + "' is " + std::to_string(size >> 20) +
                      " MB; a config may be at most " + std::to_string(kMaxConfigBytes >> 20) +
                      " MB");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("cannot read config file '" + path + "'");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return parse(buffer.str(), std::make_shared<const std::string>(path));
}

ConfigNode parse_yaml_text(const std::string& text, const std::string& origin) {
  return parse(text, std::make_shared<const std::string>(origin));
}

}  // namespace detkit
