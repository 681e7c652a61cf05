// `detkit ARGS...`: picks the subcommand and its action from the command table and turns every
// error into one message and an exit status (2 for a bad command line, with the usage).
#include <iostream>

#include "cli.h"
#include "detkit/core/runtime.h"
#include "detkit/core/text.h"
#include "detkit/version.h"

namespace detkit::cli {

namespace {

/// The usage of the command being run; set by set_current_usage.
std::string& usage_slot() {
  static std::string usage;
  return usage;
}

/// "  name        summary" lines, the summaries aligned.
void print_table(std::ostream& out, const std::vector<Command>& table) {
  size_t width = 10;
  for (const auto& command : table)
    width = std::max(width, std::string(command.name).size() + 2);
  for (const auto& command : table) {
    const std::string name = command.name;
    out << "  " << name << std::string(width - name.size(), ' ') << command.summary << "\n";
  }
}

void print_usage(std::ostream& out) {
  out << "usage: detkit <command> [options]\n\ncommands:\n";
  print_table(out, commands());
  out << "\nRun `detkit <command> --help` for a command's options.\n";
}

std::vector<std::string> names_of(const std::vector<Command>& table) {
  std::vector<std::string> names;
  for (const auto& command : table)
    names.push_back(command.name);
  return names;
}

/// "detkit checkpoint info|convert ..." for a command with actions.
std::string actions_usage(const Command& command, const std::string& path) {
  return path + " " + join(names_of(command.actions), "|") + " ...";
}

bool is_help(const std::string& arg) {
  return arg == "--help" || arg == "-h";
}

}  // namespace

const std::string& current_usage() {
  return usage_slot();
}

void set_current_usage(const std::string& usage) {
  usage_slot() = usage;
}

int run_command(const Command& command, const std::string& path,
                const std::vector<std::string>& args) {
  set_current_usage(path + " ...");
  if (command.actions.empty()) return command.run(args);
  const std::string usage = actions_usage(command, path);
  set_current_usage(usage);
  const std::vector<std::string> names = names_of(command.actions);
  const std::string noun = command.action_noun;
  const std::vector<std::string> but_last(names.begin(), names.end() - 1);
  const std::string choices =
      " (" + (but_last.empty() ? "" : join(but_last, ", ") + " or ") + names.back() + ")";
  if (!args.empty() && is_help(args.front())) {
    std::cout << "usage: " << usage << "\n\n" << noun << "s:\n";
    print_table(std::cout, command.actions);
    std::cout << "\nRun `" << path << " <" << noun << "> --help` for its options.\n";
    return 0;
  }
  const bool option_first = !args.empty() && args.front().size() > 1 && args.front()[0] == '-';
  if (option_first) {
    // Options before the action (`detkit plugins --plugin P describe T`): the first argument
    // that names an action is the action, wherever it stands.
    for (size_t i = 1; i < args.size(); ++i) {
      for (const auto& action : command.actions) {
        if (args[i] != action.name) continue;
        std::vector<std::string> rest = args;
        rest.erase(rest.begin() + static_cast<std::ptrdiff_t>(i));
        return run_command(action, path + " " + action.name, rest);
      }
    }
  }
  if (args.empty() || option_first) {
    if (command.default_action == nullptr) throw UsageError("missing " + noun + choices);
    for (const auto& action : command.actions) {
      if (action.name == std::string(command.default_action))
        return run_command(action, path + " " + action.name, args);
    }
  }
  const std::string& name = args.front();
  for (const auto& action : command.actions) {
    if (name == action.name)
      return run_command(action, path + " " + action.name, {args.begin() + 1, args.end()});
  }
  const std::string guess = did_you_mean(name, names);
  throw UsageError("unknown " + noun + " '" + name + "'" + (guess.empty() ? choices : guess));
}

int run_command_line(const std::vector<std::string>& args) {
  set_current_usage("detkit <command> [options]");
  if (args.empty()) {
    print_usage(std::cerr);
    return 2;
  }
  const std::string& name = args.front();
  if (name == "--help" || name == "-h" || name == "help") {
    print_usage(std::cout);
    return 0;
  }
  if (name == "--version") {
    std::cout << "detkit " << BuildInfo::version() << " (SDK ABI " << DETKIT_SDK_ABI_MAJOR << "."
              << DETKIT_SDK_ABI_MINOR << ", LibTorch " << BuildInfo::torch_major() << "."
              << BuildInfo::torch_minor() << ", " << (BuildInfo::cuda() ? "CUDA" : "CPU only")
              << "; plugins must reference " << BuildInfo::tripwire_symbol() << ")\n";
    return 0;
  }
  for (const auto& command : commands()) {
    if (name != command.name) continue;
    const std::string prefix = "detkit " + name + ": error: ";
    try {
      initialize_runtime();
      return run_command(command, "detkit " + name, {args.begin() + 1, args.end()});
    } catch (const UsageError& e) {
      const std::string message = e.what();
      std::cerr << prefix << message << "\n";
      if (message.find("usage: ") == std::string::npos)
        std::cerr << "usage: " << current_usage() << " (see --help)\n";
      return 2;
    } catch (const Error& e) {
      std::cerr << prefix << e.what() << "\n";
    } catch (const std::exception& e) {
      std::cerr << prefix << exception_message(e) << "\n";
    }
    return 1;
  }
  std::cerr << "detkit: unknown command '" << name << "'"
            << did_you_mean(name, names_of(commands())) << "\n";
  print_usage(std::cerr);
  return 2;
}

}  // namespace detkit::cli
