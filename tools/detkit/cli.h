// Shared pieces of the detkit subcommands: the command table, option parsing and plugin loading.
#pragma once

#include <boost/program_options.hpp>

#include <string>
#include <vector>

#include "detkit/config_node.h"
#include "detkit/error.h"

namespace detkit::cli {

namespace po = boost::program_options;

/// A bad command line (unknown option, missing argument, malformed value): the CLI prints it
/// with the usage line and exits with status 2, as argument parsers conventionally do.
class UsageError : public Error {
 public:
  using Error::Error;
};

/// One subcommand: `detkit <name> ...`.
struct Command {
  const char* name;
  const char* summary;
  /// Runs with the arguments after the subcommand name; returns the exit code.
  int (*run)(const std::vector<std::string>& args);
};

/// Every subcommand, in help order.
const std::vector<Command>& commands();

/// Adds the options every subcommand takes (--plugin, --help).
void add_common_options(po::options_description& options);

/// Parses `args` against `options` and `positional`; prints help and returns false on --help.
bool parse(const std::vector<std::string>& args, const po::options_description& options,
           const po::positional_options_description& positional, po::variables_map& vm,
           const std::string& usage);

/// Loads the plugins named by --plugin and by the config's `plugins:`, then DETKIT_PLUGIN_PATH
/// and the plugin folders. With `strict`, a requested plugin that failed is an error (unless
/// the config sets allow_failed_plugins).
void load_plugins(const po::variables_map& vm, const ConfigNode* config, bool strict);

/// Loads CONFIG with --cfg-options applied.
ConfigNode load_config_from(const po::variables_map& vm, const std::string& key = "config");

// Subcommands.
int run_plugins(const std::vector<std::string>& args);
int run_config(const std::vector<std::string>& args);
int run_data(const std::vector<std::string>& args);
int run_convert(const std::vector<std::string>& args);
int run_eval(const std::vector<std::string>& args);
int run_benchmark(const std::vector<std::string>& args);
int run_checkpoint(const std::vector<std::string>& args);
int run_infer(const std::vector<std::string>& args);
int run_model(const std::vector<std::string>& args);
int run_schedule(const std::vector<std::string>& args);
int run_train(const std::vector<std::string>& args);
int run_analyze_logs(const std::vector<std::string>& args);
/// `detkit benchmark model` (dispatched by run_benchmark).
int run_model_benchmark(const std::vector<std::string>& args);
/// `detkit checkpoint info FILE` (dispatched by run_checkpoint).
int run_checkpoint_info(const std::vector<std::string>& args);
/// `detkit checkpoint convert ...` (dispatched by run_checkpoint).
int run_checkpoint_convert(const std::vector<std::string>& args);
/// `detkit benchmark loader ...` (dispatched by run_benchmark).
int run_loader_benchmark(const std::vector<std::string>& args);
/// `detkit benchmark losses`.
int run_losses_benchmark(const std::vector<std::string>& args);
/// `detkit benchmark dataset`.
int run_dataset_benchmark(const std::vector<std::string>& args);

}  // namespace detkit::cli
