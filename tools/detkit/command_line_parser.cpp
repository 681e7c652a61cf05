// cli::parse: boost::program_options with the checks and the words of a careful argument parser.
// Positional arguments are options underneath; here they are NAMEs (never --name), an option
// given twice, an extra argument and a negative unsigned number are errors, and --help lists
// the arguments apart from the options.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <iostream>
#include <map>

#include "cli.h"
#include "detkit/core/text.h"

namespace detkit::cli {

namespace {

/// The positional arguments of a command, in order.
struct Positionals {
  /// Their option keys (each once).
  std::vector<std::string> keys;
  /// Whether the last one takes any number of values.
  bool last_repeats = false;
  /// How many values they take in all.
  unsigned max_count = 0;

  bool contains(const std::string& key) const {
    return std::find(keys.begin(), keys.end(), key) != keys.end();
  }
};

Positionals positionals_of(const po::positional_options_description& positional) {
  constexpr unsigned kListed = 64;  // more than any command has
  Positionals out;
  out.max_count = positional.max_total_count();
  out.last_repeats = out.max_count == std::numeric_limits<unsigned>::max();
  for (unsigned i = 0; i < std::min(out.max_count, kListed); ++i) {
    const std::string& key = positional.name_for_position(i);
    if (!out.contains(key)) out.keys.push_back(key);
  }
  return out;
}

/// What a positional argument is called: its key upper-cased ("results" -> RESULTS).
std::string display_name(const std::string& key) {
  std::string name = key;
  for (char& c : name)
    c = c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

/// How an option or argument is named in messages: --name, or NAME for a positional one.
std::string label(const std::string& key, const Positionals& positionals) {
  return positionals.contains(key) ? display_name(key) : "--" + key;
}

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
}

/// boost's message with positional arguments named NAME instead of their hidden --key.
std::string describe(const po::error& error, const Positionals& positionals) {
  std::string message = error.what();
  for (const auto& key : positionals.keys) {
    replace_all(message, "option '--" + key + "'", "argument " + display_name(key));
    replace_all(message, "'--" + key + "'", display_name(key));
  }
  return message;
}

/// The long names of the options a user can type.
std::vector<std::string> option_names(const po::options_description& options,
                                      const Positionals& positionals) {
  std::vector<std::string> names;
  for (const auto& option : options.options()) {
    if (!positionals.contains(option->long_name())) names.push_back("--" + option->long_name());
  }
  return names;
}

/// "unexpected argument 'X'": the first value after the ones the arguments take.
std::string unexpected_argument(const std::vector<std::string>& args,
                                const po::options_description& options,
                                const Positionals& positionals) {
  std::vector<std::string> values;
  try {
    for (const auto& option : po::command_line_parser(args).options(options).run().options) {
      if (option.position_key >= 0 && !option.value.empty()) values.push_back(option.value[0]);
    }
  } catch (const po::error&) {
  }
  if (values.size() <= positionals.max_count) return "too many arguments";
  std::string message = "unexpected argument '" + values[positionals.max_count] + "'";
  if (positionals.max_count == 0) return message + " (this command takes no arguments)";
  std::vector<std::string> names;
  for (const auto& key : positionals.keys)
    names.push_back(display_name(key));
  return message + " (expected " + join(names, " ") + ")";
}

template <typename T>
bool has_type(const po::value_semantic* semantic) {
  return dynamic_cast<const po::typed_value<T>*>(semantic) != nullptr ||
         dynamic_cast<const po::typed_value<std::vector<T>>*>(semantic) != nullptr;
}

/// Whether the option's values are unsigned numbers, which boost would take "-1" for (as 2^64-1).
bool is_unsigned(const po::value_semantic* semantic) {
  return has_type<unsigned char>(semantic) || has_type<unsigned short>(semantic) ||
         has_type<unsigned int>(semantic) || has_type<unsigned long>(semantic) ||
         has_type<unsigned long long>(semantic);
}

/// Refuses what boost lets through: a positional argument given as --key, an option given twice
/// (unless it is composing, such as --plugin), a negative value of an unsigned option.
void check_tokens(const po::parsed_options& parsed, const po::options_description& options,
                  const Positionals& positionals) {
  std::map<std::string, int> seen;
  for (const po::option& token : parsed.options) {
    const po::option_description* option = options.find_nothrow(token.string_key, false);
    if (option == nullptr) continue;
    const std::string name = label(token.string_key, positionals);
    if (token.position_key < 0) {
      if (positionals.contains(token.string_key)) {
        const std::string typed =
            token.original_tokens.empty() ? "--" + token.string_key : token.original_tokens.front();
        throw UsageError("unrecognised option '" + typed.substr(0, typed.find('=')) + "'");
      }
      if (++seen[token.string_key] == 2 && !option->semantic()->is_composing())
        throw UsageError("option " + name + " given more than once");
    }
    if (is_unsigned(option->semantic().get())) {
      for (const std::string& value : token.value) {
        const size_t first = value.find_first_not_of(" \t");
        if (first != std::string::npos && value[first] == '-')
          throw UsageError(name + " must be a number >= 0, got '" + value + "'");
      }
    }
  }
}

/// "  LABEL     description" with the descriptions aligned.
void print_rows(std::ostream& out, const std::vector<std::pair<std::string, std::string>>& rows) {
  size_t width = 0;
  for (const auto& row : rows)
    width = std::max(width, row.first.size());
  for (const auto& [left, right] : rows)
    out << "  " << left << std::string(width - left.size() + 3, ' ') << right << "\n";
}

/// The usage line, the positional arguments (NAME, [NAME] when optional, NAME... when it
/// repeats) and the options (those that may be given again marked "repeatable").
void print_help(const std::string& usage, const po::options_description& options,
                const Positionals& positionals) {
  std::cout << "usage: " << usage << "\n";
  if (!positionals.keys.empty()) {
    std::vector<std::pair<std::string, std::string>> rows;
    for (size_t i = 0; i < positionals.keys.size(); ++i) {
      const std::string& key = positionals.keys[i];
      const po::option_description* option = options.find_nothrow(key, false);
      std::string name = display_name(key);
      if (i + 1 == positionals.keys.size() && positionals.last_repeats) name += "...";
      if (option != nullptr && !option->semantic()->is_required()) name = "[" + name + "]";
      rows.emplace_back(name, option != nullptr ? option->description() : "");
    }
    std::cout << "\narguments:\n";
    print_rows(std::cout, rows);
  }
  std::vector<std::pair<std::string, std::string>> rows;
  for (const auto& option : options.options()) {
    if (positionals.contains(option->long_name())) continue;
    const std::string parameter = option->format_parameter();
    std::string description = option->description();
    if (option->semantic()->is_composing()) description += " (repeatable)";
    rows.emplace_back(option->format_name() + (parameter.empty() ? "" : " " + parameter),
                      description);
  }
  std::cout << "\noptions:\n";
  print_rows(std::cout, rows);
}

}  // namespace

bool parse(const std::vector<std::string>& args, const po::options_description& options,
           const po::positional_options_description& positional, po::variables_map& vm,
           const std::string& usage) {
  set_current_usage(usage);
  const Positionals positionals = positionals_of(positional);
  po::parsed_options parsed(&options);
  try {
    parsed = po::command_line_parser(args).options(options).positional(positional).run();
  } catch (const po::too_many_positional_options_error&) {
    throw UsageError(unexpected_argument(args, options, positionals));
  } catch (const po::unknown_option& e) {
    throw UsageError(describe(e, positionals) +
                     did_you_mean(e.get_option_name(), option_names(options, positionals)));
  } catch (const po::error& e) {
    throw UsageError(describe(e, positionals));
  }
  for (const po::option& token : parsed.options) {
    if (token.string_key == "help") {
      print_help(usage, options, positionals);
      return false;
    }
  }
  check_tokens(parsed, options, positionals);
  try {
    po::store(parsed, vm);
  } catch (const po::error& e) {
    throw UsageError(describe(e, positionals));
  }
  for (const auto& key : positionals.keys) {
    const po::option_description* option = options.find_nothrow(key, false);
    if (option != nullptr && option->semantic()->is_required() && !vm.count(key))
      throw UsageError("missing argument " + display_name(key));
  }
  for (const auto& option : options.options()) {
    if (option->semantic()->is_required() && !vm.count(option->long_name()))
      throw UsageError("the option '--" + option->long_name() + "' is required but missing");
  }
  try {
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(describe(e, positionals));
  }
  return true;
}

}  // namespace detkit::cli
