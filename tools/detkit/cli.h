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
/// with the usage line of the command and exits with status 2, as argument parsers do.
class UsageError : public Error {
 public:
  using Error::Error;
};

/// One subcommand (`detkit <name> ...`), or one action of a subcommand
/// (`detkit checkpoint info ...`).
struct Command {
  const char* name;
  const char* summary;
  /// Runs with the arguments after the name; returns the exit code. Null when the command has
  /// actions.
  int (*run)(const std::vector<std::string>& args);
  /// The actions, when the first argument picks one (run_command dispatches them).
  std::vector<Command> actions = {};
  /// The action run when the first argument is an option or absent (null: an action is
  /// required).
  const char* default_action = nullptr;
  /// What the first argument is called in messages ("action", "format").
  const char* action_noun = "action";
};

/// Every subcommand, in help order.
const std::vector<Command>& commands();

/// Runs `detkit ARGS...` (ARGS without the program name): dispatches to the command and its
/// action, prints any error as one line ("detkit CMD: error: ...", the usage after a bad
/// command line) and returns the exit status: 0, 1 (an error) or 2 (a bad command line).
int run_command_line(const std::vector<std::string>& args);

/// Runs `command` (named `path`, e.g. "detkit checkpoint") with `args`, dispatching its
/// actions; a missing or unknown action is a UsageError.
int run_command(const Command& command, const std::string& path,
                const std::vector<std::string>& args);

/// Adds the options every subcommand takes (--plugin, --help).
void add_common_options(po::options_description& options);

/// Parses `args` against `options` and `positional` (positional arguments are options of
/// `options` named in `positional`; they are never accepted as --name and are called NAME in
/// help and messages). Prints the help and returns false on --help. Throws UsageError for an
/// unknown option, a missing or extra argument, a value that does not parse, an option given
/// twice (unless composing) and a negative number for an unsigned option. `usage` is printed
/// with the help and after any UsageError the command throws later.
bool parse(const std::vector<std::string>& args, const po::options_description& options,
           const po::positional_options_description& positional, po::variables_map& vm,
           const std::string& usage);

/// The usage line of the command being run (set by parse and run_command), printed after a
/// UsageError that does not hold one.
const std::string& current_usage();
void set_current_usage(const std::string& usage);

/// Refuses (UsageError) to write `output` (named `what` in the message, e.g. "--json") when it
/// would overwrite one of `inputs`: the same file after resolving links, or a file inside an
/// input folder (detkit::output_overwrites_input).
void refuse_output_over_inputs(const std::string& what, const std::string& output,
                               const std::vector<std::string>& inputs);

/// Loads the plugins named by --plugin and by the config's `plugins:`, then DETKIT_PLUGIN_PATH
/// and the plugin folders. With `strict`, a requested plugin that failed is an error (unless
/// the config sets allow_failed_plugins).
void load_plugins(const po::variables_map& vm, const ConfigNode* config, bool strict);

/// Loads CONFIG with --cfg-options applied.
ConfigNode load_config_from(const po::variables_map& vm, const std::string& key = "config");

// Subcommands and their actions.
int run_plugins_list(const std::vector<std::string>& args);
int run_plugins_describe(const std::vector<std::string>& args);
int run_config_print(const std::vector<std::string>& args);
int run_config_check(const std::vector<std::string>& args);
int run_data_synth(const std::vector<std::string>& args);
int run_convert_cityscapes(const std::vector<std::string>& args);
int run_eval_coco(const std::vector<std::string>& args);
int run_infer(const std::vector<std::string>& args);
int run_model(const std::vector<std::string>& args);
int run_schedule(const std::vector<std::string>& args);
int run_train(const std::vector<std::string>& args);
/// `detkit dist-train --nproc N ... CONFIG [train options...]`.
int run_dist_train(const std::vector<std::string>& args);
int run_test(const std::vector<std::string>& args);
/// `detkit analyze-logs plot_curve LOG.json... --keys K...`.
int run_analyze_logs_plot_curve(const std::vector<std::string>& args);
/// `detkit analyze-logs cal_train_time LOG.json...`.
int run_analyze_logs_cal_train_time(const std::vector<std::string>& args);
/// `detkit benchmark coco-eval`.
int run_coco_eval_benchmark(const std::vector<std::string>& args);
/// `detkit benchmark model`.
int run_model_benchmark(const std::vector<std::string>& args);
/// `detkit benchmark loader`.
int run_loader_benchmark(const std::vector<std::string>& args);
/// `detkit benchmark losses`.
int run_losses_benchmark(const std::vector<std::string>& args);
/// `detkit benchmark dist`.
int run_dist_benchmark(const std::vector<std::string>& args);
/// `detkit benchmark dataset`.
int run_dataset_benchmark(const std::vector<std::string>& args);
/// `detkit checkpoint info FILE`.
int run_checkpoint_info(const std::vector<std::string>& args);
/// `detkit checkpoint convert ...`.
int run_checkpoint_convert(const std::vector<std::string>& args);

}  // namespace detkit::cli
