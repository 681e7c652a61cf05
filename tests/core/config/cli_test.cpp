// The detkit command line as a whole, run in-process (cli::run_command_line, what main() runs)
// so that many command lines cost no process start-up: every subcommand and action refuses a
// bad command line with status 2 and its usage, outputs never overwrite inputs, unreadable
// input files are one clear line.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>
#include <iostream>
#include <sstream>

#include "cli.h"
#include "test_support.h"

namespace detkit {
namespace {

namespace fs = std::filesystem;
using testing::ProcessResult;
using testing::TempDir;
using testing::write_file;

/// Runs `detkit ARGS` in this process, capturing what it prints.
ProcessResult run_cli(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  std::streambuf* const old_out = std::cout.rdbuf(out.rdbuf());
  std::streambuf* const old_err = std::cerr.rdbuf(err.rdbuf());
  ProcessResult result;
  try {
    result.exit_code = cli::run_command_line(args);
  } catch (...) {
    std::cout.rdbuf(old_out);
    std::cerr.rdbuf(old_err);
    throw;
  }
  std::cout.rdbuf(old_out);
  std::cerr.rdbuf(old_err);
  result.out = out.str();
  result.err = err.str();
  return result;
}

std::vector<std::string> words_of(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> words;
  for (std::string word; in >> word;)
    words.push_back(word);
  return words;
}

/// What `detkit WORDS --help` says a command takes.
struct Syntax {
  /// Positional arguments as NAME (the hidden option key is name lower-cased, '_' -> '-').
  std::vector<std::string> required, optional;
  bool repeats = false;
  /// Options other than --help: name -> whether it takes a value; and which may repeat.
  std::vector<std::pair<std::string, bool>> options;
  std::vector<std::string> repeatable;
};

Syntax syntax_of(const std::vector<std::string>& words) {
  std::vector<std::string> args = words;
  args.push_back("--help");
  const ProcessResult help = run_cli(args);
  EXPECT_EQ(help.exit_code, 0) << help.err;
  Syntax syntax;
  std::istringstream lines(help.out);
  std::string section;
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line[0] != ' ') {  // "arguments:", "options:", "examples:", prose
      section = line;
      continue;
    }
    if (line.rfind("  ", 0) != 0) continue;
    const std::vector<std::string> w = words_of(line);
    if (w.empty()) continue;
    if (section == "arguments:") {
      std::string name = w[0];
      const bool optional = name.front() == '[';
      if (optional) name = name.substr(1, name.size() - 2);
      if (name.size() > 3 && name.compare(name.size() - 3, 3, "...") == 0) {
        syntax.repeats = true;
        name.resize(name.size() - 3);
      }
      (optional ? syntax.optional : syntax.required).push_back(name);
    } else if (section == "options:") {
      for (size_t i = 0; i < w.size(); ++i) {
        if (w[i].rfind("--", 0) != 0) continue;
        const std::string name = w[i];
        const bool value = i + 1 < w.size() && w[i + 1] == "arg";
        if (name == "--help") break;
        syntax.options.emplace_back(name, value);
        if (line.find("(repeatable)") != std::string::npos) syntax.repeatable.push_back(name);
        break;
      }
    }
  }
  return syntax;
}

/// The hidden option key of a positional NAME.
std::string hidden_key(const std::string& name) {
  std::string key = name;
  for (char& c : key)
    c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return "--" + key;
}

/// Every command and action path (["eval", "coco"], ["train"], ...) from the command table.
void collect(const cli::Command& command, std::vector<std::string> path,
             std::vector<std::vector<std::string>>& leaves,
             std::vector<std::vector<std::string>>& dispatchers) {
  path.push_back(command.name);
  if (command.actions.empty()) {
    leaves.push_back(path);
    return;
  }
  dispatchers.push_back(path);
  for (const auto& action : command.actions)
    collect(action, path, leaves, dispatchers);
}

std::string joined(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& word : words)
    out += (out.empty() ? "" : " ") + word;
  return out;
}

/// Runs a bad command line and checks: status 2, one error naming `names` (what was wrong),
/// the command's usage, no hidden option name of a positional argument.
void expect_usage_error(const std::vector<std::string>& args, const std::string& command,
                        const std::string& names, const Syntax& syntax) {
  SCOPED_TRACE("detkit " + joined(args));
  const ProcessResult r = run_cli(args);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("error: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(names), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("usage: detkit " + command), std::string::npos) << r.err;
  std::vector<std::string> positionals = syntax.required;
  positionals.insert(positionals.end(), syntax.optional.begin(), syntax.optional.end());
  for (const auto& name : positionals) {
    const std::string key = hidden_key(name);
    for (size_t at = r.err.find(key); at != std::string::npos; at = r.err.find(key, at + 1)) {
      const char after = at + key.size() < r.err.size() ? r.err[at + key.size()] : ' ';
      EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(after)) || after == '-')
          << "hidden option " << key << " in: " << r.err;
    }
  }
}

TEST(CommandLine, EveryCommandRefusesEveryKindOfBadCommandLineWithStatus2AndItsUsage) {
  std::vector<std::vector<std::string>> leaves, dispatchers;
  const ProcessResult help = run_cli({"--help"});
  ASSERT_EQ(help.exit_code, 0);
  for (const auto& command : cli::commands()) {
    EXPECT_NE(help.out.find("  " + std::string(command.name) + " "), std::string::npos)
        << command.name << " missing from --help:\n"
        << help.out;
    collect(command, {}, leaves, dispatchers);
  }
  ASSERT_GE(leaves.size(), 20u);  // every command and action, not a few

  size_t cases = 0;
  for (const auto& words : dispatchers) {
    const std::string command = joined(words);
    const Syntax none;
    std::vector<std::string> args = words;
    args.push_back("no-such-action");
    expect_usage_error(args, command, "'no-such-action'", none);
    ++cases;
  }
  for (const auto& words : leaves) {
    const std::string command = joined(words);
    const Syntax syntax = syntax_of(words);
    for (const auto& [name, takes_value] : syntax.options) {  // --help hides positionals' keys
      for (const auto& argument : syntax.required)
        EXPECT_NE(name, hidden_key(argument)) << command << " --help";
    }
    // Values for the required arguments (all but the last when one is to be missing).
    std::vector<std::string> args = words;
    for (size_t i = 0; i < syntax.required.size(); ++i)
      args.push_back("arg" + std::to_string(i));
    const auto with = [&](std::vector<std::string> extra) {
      std::vector<std::string> out = args;
      out.insert(out.end(), extra.begin(), extra.end());
      return out;
    };
    expect_usage_error(with({"--no-such-flag"}), command, "'--no-such-flag'", syntax);
    ++cases;
    if (!syntax.required.empty()) {
      std::vector<std::string> missing = args;
      missing.pop_back();
      expect_usage_error(missing, command, "missing argument " + syntax.required.back(), syntax);
      ++cases;
    }
    if (!syntax.repeats) {
      std::vector<std::string> extra;
      for (size_t i = 0; i < syntax.optional.size(); ++i)
        extra.push_back("opt" + std::to_string(i));
      extra.push_back("extra-arg");
      expect_usage_error(with(extra), command, "'extra-arg'", syntax);
      ++cases;
    }
    for (const auto& [name, takes_value] : syntax.options) {
      if (name == "--threads") {
        expect_usage_error(with({"--threads", "abc"}), command, "--threads", syntax);
        ++cases;
      }
      if (std::find(syntax.repeatable.begin(), syntax.repeatable.end(), name) !=
          syntax.repeatable.end())
        continue;
      std::vector<std::string> twice = takes_value ? std::vector<std::string>{name, "1", name, "1"}
                                                   : std::vector<std::string>{name, name};
      expect_usage_error(with(twice), command, name + " given more than once", syntax);
      ++cases;
    }
  }
  EXPECT_GE(cases, 80u);
  RecordProperty("bad_command_lines", static_cast<int>(cases));

  // Unsigned options refuse a negative number (boost would take -1 for 2^64 - 1).
  TempDir dir;
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"data", "synth", "--out", dir.file("synth"), "--seed", "-1"},
           {"benchmark", "loader", "--seed", "-3"}}) {
    const Syntax syntax = syntax_of({args[0], args[1]});
    expect_usage_error(args, args[0] + " " + args[1], "--seed must be a number >= 0", syntax);
  }
  EXPECT_FALSE(fs::exists(dir.file("synth")));
}

/// A minimal COCO ground truth and result file.
constexpr const char* kGroundTruth =
    R"({"images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}],
        "categories": [{"id": 1, "name": "thing"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 4],
                         "area": 16, "iscrowd": 0}]})";
constexpr const char* kResults = R"([{"image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 4],
                                      "score": 0.9}])";

TEST(CommandLine, NoOutputOverwritesAnInput) {
  TempDir dir;
  write_file(dir.file("gt.json"), kGroundTruth);
  write_file(dir.file("res.json"), kResults);
  fs::create_symlink(dir.file("res.json"), dir.file("res_link.json"));
  const std::string polygons = dir.file("gtFine/val/x/x_000000_000001_gtFine_polygons.json");
  write_file(polygons, R"({"imgHeight": 8, "imgWidth": 8, "objects": []})");
  write_file(dir.file("in.pth"), "torchvision weights");
  write_file(dir.file("cfg.yaml"), "optimizer: {type: SGD, lr: 0.01}\n");
  const std::vector<std::string> inputs = {dir.file("gt.json"), dir.file("res.json"), polygons,
                                           dir.file("in.pth"), dir.file("cfg.yaml")};
  std::vector<std::string> before;
  for (const auto& file : inputs)
    before.push_back(testing::read_file(file));

  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{"eval", "coco", dir.file("gt.json"), dir.file("res.json"), "--json", dir.file("gt.json")},
       "--json " + dir.file("gt.json") + ": would overwrite the input " + dir.file("gt.json")},
      {{"eval", "coco", dir.file("gt.json"), dir.file("res.json"), "--json",
        dir.file("res_link.json")},
       "would overwrite the input " + dir.file("res.json")},
      {{"eval", "coco", dir.file("gt.json"), dir.file("res.json"), "--json",
        dir.file("gtFine/../gt.json")},
       "would overwrite the input " + dir.file("gt.json")},
      {{"convert", "cityscapes", dir.file("gtFine"), dir.file("gtFine"), "--split", "val"},
       "would overwrite the input"},
      {{"convert", "cityscapes", dir.file("gtFine/val"), polygons},
       "inside the input folder " + dir.file("gtFine/val")},
      {{"checkpoint", "convert", "--from", "torchvision", "--model", "resnet", dir.file("in.pth"),
        dir.file("in.pth"), "--force"},
       "would overwrite the input"},
      {{"schedule", dir.file("cfg.yaml"), "--json", dir.file("cfg.yaml")},
       "would overwrite the input"},
      {{"schedule", dir.file("cfg.yaml"), "--json", dir.file("s.json"), "--png",
        dir.file("s.json")},
       "--png " + dir.file("s.json")},
      {{"train", dir.file("cfg.yaml"), "--work-dir", dir.file("cfg.yaml")},
       "would overwrite the input"},
      {{"analyze-logs", "plot_curve", dir.file("cfg.yaml"), "--keys", "lr", "--out",
        dir.file("cfg.yaml")},
       "would overwrite the input"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE("detkit " + joined(c.args));
    const ProcessResult r = run_cli(c.args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << r.err;
  }
  for (size_t i = 0; i < inputs.size(); ++i)
    EXPECT_EQ(testing::read_file(inputs[i]), before[i]) << inputs[i];
  EXPECT_FALSE(fs::exists(dir.file("s.json")));

  // A folder holding a user's dataset: data synth leaves it alone without --overwrite.
  write_file(dir.file("mine/annotations/train.json"), "my annotations");
  const std::vector<std::string> synth = {"data",         "synth", "--out",     dir.file("mine"),
                                          "--num-train",  "1",     "--num-val", "1",
                                          "--image-size", "32",    "32"};
  ProcessResult r = run_cli(synth);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find(dir.file("mine") + ": the folder is not empty"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--overwrite"), std::string::npos) << r.err;
  EXPECT_EQ(testing::read_file(dir.file("mine/annotations/train.json")), "my annotations");
  EXPECT_FALSE(fs::exists(dir.file("mine/train")));
  std::vector<std::string> overwrite = synth;
  overwrite.push_back("--overwrite");
  r = run_cli(overwrite);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(testing::read_file(dir.file("mine/annotations/train.json")), "my annotations");
}

TEST(CommandLine, AnInputThatIsNoRegularFileIsOneClearLine) {
  TempDir dir;
  write_file(dir.file("gt.json"), kGroundTruth);
  write_file(dir.file("res.json"), kResults);
  fs::create_directory(dir.file("folder.json"));
  fs::create_symlink(dir.file("loop_b.json"), dir.file("loop_a.json"));
  fs::create_symlink(dir.file("loop_a.json"), dir.file("loop_b.json"));
  fs::create_symlink(dir.file("gone.json"), dir.file("broken.json"));
  ASSERT_EQ(::mkfifo(dir.file("fifo.json").c_str(), 0600), 0);  // nobody writes: open would block
  const std::vector<std::pair<std::string, std::string>> inputs = {
      {"folder.json", "is a folder, expected a file"},
      {"loop_a.json", "is a symlink loop"},
      {"fifo.json", "is a FIFO (named pipe), not a regular file"},
      {"broken.json", "a broken symbolic link"}};
  for (const auto& [name, says] : inputs) {
    const std::string path = dir.file(name);
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"eval", "coco", path, dir.file("res.json")},
          std::vector<std::string>{"eval", "coco", dir.file("gt.json"), path},
          std::vector<std::string>{"config", "print", path},
          std::vector<std::string>{"checkpoint", "info", path}}) {
      SCOPED_TRACE("detkit " + joined(args));
      const ProcessResult r = run_cli(args);
      EXPECT_EQ(r.exit_code, 1) << r.err;
      EXPECT_NE(r.err.find(path), std::string::npos) << r.err;
      EXPECT_NE(r.err.find(says), std::string::npos) << r.err;
      EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
      EXPECT_EQ(r.err.find("Bad address"), std::string::npos) << r.err;
    }
  }
  // An image named on infer's command line: refused before the model is built (a bad command
  // line, as a missing image is).
  const ProcessResult infer =
      run_cli({"infer", dir.file("cfg.yaml"), dir.file("w.pth"), dir.file("fifo.json")});
  EXPECT_EQ(infer.exit_code, 2) << infer.err;
  EXPECT_NE(infer.err.find(dir.file("fifo.json") + ": is a FIFO"), std::string::npos) << infer.err;
}

}  // namespace
}  // namespace detkit
