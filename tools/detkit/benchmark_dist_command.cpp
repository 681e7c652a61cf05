// `detkit benchmark dist [CONFIG] [--iters N] [--warmup W] [--batch B] [--nproc P] [--threads T]`:
// the same training, one process of T threads against P processes of T / P threads (through
// `detkit dist-train`), with the same global batch of B images per iteration, side by side in
// one run: seconds per iteration, images per second, and the share of an iteration the
// gradients' all-reduce takes. Default: the demo RetinaNet (configs/demo/
// retinanet_r18_fpn_synth.yaml) on a synthetic dataset of N x B images written for the run.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "benchmark_support.h"
#include "cli.h"
#include "detkit/checkpoint.h"
#include "detkit/core/distributed.h"
#include "detkit/core/runtime.h"
#include "detkit/core/synthetic_data.h"
#include "detkit/core/training_log.h"
#include "detkit/error.h"

namespace detkit::cli {

namespace {

namespace fs = std::filesystem;

/// Per-iteration means of one run, after the warm-up iterations.
struct RunTimes {
  double time = 0, data_time = 0, allreduce_time = 0;
  int64_t iterations = 0;
};

/// The means of the training lines of the JSON log in `work_dir`, skipping `warmup` of them.
RunTimes read_times(const std::string& work_dir, int64_t warmup) {
  std::string log_path;
  for (const auto& entry : fs::directory_iterator(work_dir)) {
    const std::string name = entry.path().filename().string();
    if (name.size() > 9 && name.substr(name.size() - 9) == ".log.json") log_path = entry.path();
  }
  if (log_path.empty()) throw Error("the run left no JSON log in " + work_dir);
  RunTimes times;
  int64_t seen = 0;
  for (const auto& entry : read_training_log(log_path).entries) {
    if (entry.mode != "train" || seen++ < warmup) continue;
    auto value = [&](const char* key) {
      const auto it = entry.values.find(key);
      return it == entry.values.end() ? 0.0 : it->second;
    };
    times.time += value("time");
    times.data_time += value("data_time");
    times.allreduce_time += value("allreduce_time");
    ++times.iterations;
  }
  if (times.iterations == 0) throw Error("the run logged no iteration after the warm-up");
  const auto n = static_cast<double>(times.iterations);
  times.time /= n;
  times.data_time /= n;
  times.allreduce_time /= n;
  return times;
}

/// Runs `argv`; throws Error with the end of its output when it fails.
void run_or_fail(const std::vector<std::string>& argv, const std::string& what) {
  const CommandOutput run = run_command(argv);
  if (run.status == 0) return;
  const std::string& out = run.output;
  throw Error(what + " failed (status " + std::to_string(run.status) + "):\n" +
              out.substr(out.size() > 4000 ? out.size() - 4000 : 0));
}

}  // namespace

int run_dist_benchmark(const std::vector<std::string>& args) {
  po::options_description options("detkit benchmark dist");
  add_common_options(options);
  options.add_options()(
      "config",
      po::value<std::string>()->default_value("configs/demo/retinanet_r18_fpn_synth.yaml"),
      "the training config (its data.train is replaced by a synthetic dataset)")(
      "iters", po::value<int64_t>()->default_value(30), "training iterations of each run")(
      "warmup", po::value<int64_t>()->default_value(5), "first iterations left out of the means")(
      "batch", po::value<int64_t>()->default_value(8),
      "images per iteration over all processes (each of P processes takes B / P)")(
      "nproc", po::value<int64_t>()->default_value(2), "processes of the distributed run")(
      "threads", po::value<int64_t>()->default_value(0),
      "threads in all (0 = one per core): the single process uses them all, each of the P "
      "processes T / P");
  po::positional_options_description positional;
  positional.add("config", 1);
  po::variables_map vm;
  if (!parse(args, options, positional, vm,
             "detkit benchmark dist [CONFIG] [--iters N] [--warmup W] [--batch B] [--nproc P] "
             "[--threads T]"))
    return 0;
  const int64_t iters = vm["iters"].as<int64_t>(), warmup = vm["warmup"].as<int64_t>();
  const int64_t batch = vm["batch"].as<int64_t>(), nproc = vm["nproc"].as<int64_t>();
  int64_t threads = vm["threads"].as<int64_t>();
  if (threads == 0) threads = hardware_threads();
  if (iters < 1 || iters > 100000) throw UsageError("--iters must be in [1, 100000]");
  if (warmup < 0 || warmup >= iters) throw UsageError("--warmup must be in [0, --iters)");
  if (nproc < 2 || nproc > 64) throw UsageError("--nproc must be in [2, 64]");
  if (batch < 1 || batch % nproc != 0)
    throw UsageError("--batch must be a positive multiple of --nproc");
  if (threads < nproc) throw UsageError("--threads must be at least --nproc");
  const std::string config = vm["config"].as<std::string>();
  if (!fs::is_regular_file(config)) throw UsageError("no config file '" + config + "'");
  if (!distributed_available())
    throw Error("this detkit was built without c10d's Gloo backend (install libgloo-dev)");

  ScopedTempDir dir("detkit-benchmark-dist");
  SyntheticDatasetOptions data;
  data.out_dir = dir.path() + "/data";
  data.num_train = iters * batch;
  data.num_val = 1;
  data.num_classes = 4;
  data.seed = 0;
  std::cout << fmt::format("writing {} synthetic training images...\n", data.num_train)
            << std::flush;
  const SyntheticDatasetSummary written = generate_synthetic_dataset(data);

  const std::string self = fs::read_symlink("/proc/self/exe").string();
  // One epoch of `iters` iterations; no evaluation, no checkpoint but the last.
  auto train_options = [&](const std::string& work_dir, int64_t per_process) {
    std::vector<std::string> a = {config, "--work-dir", work_dir, "--no-validate", "--seed", "0"};
    if (vm.count("plugin")) {
      for (const auto& plugin : vm["plugin"].as<std::vector<std::string>>()) {
        a.push_back("--plugin");
        a.push_back(plugin);
      }
    }
    const std::vector<std::string> overrides = {
        "--cfg-options",
        "data.train.ann_file=" + written.train_json,
        "data.train.img_prefix=" + written.train_dir,
        "runner.max_epochs=1",
        "log_config.interval=1",
        "data.samples_per_gpu=" + std::to_string(per_process)};
    a.insert(a.end(), overrides.begin(), overrides.end());
    return a;
  };
  std::cout << fmt::format("1 process x {} threads, {} iterations of {} images...\n", threads,
                           iters, batch)
            << std::flush;
  std::vector<std::string> single = {self, "train", "--threads", std::to_string(threads)};
  for (const auto& a : train_options(dir.path() + "/single", batch))
    single.push_back(a);
  run_or_fail(single, "the single-process run");
  const int64_t per_thread = threads / nproc;
  std::cout << fmt::format("{} processes x {} thread(s), {} images each...\n", nproc, per_thread,
                           batch / nproc)
            << std::flush;
  std::vector<std::string> distributed = {self,
                                          "dist-train",
                                          "--nproc",
                                          std::to_string(nproc),
                                          "--threads-per-proc",
                                          std::to_string(per_thread),
                                          "--master-port",
                                          std::to_string(free_local_port())};
  for (const auto& a : train_options(dir.path() + "/dist", batch / nproc))
    distributed.push_back(a);
  run_or_fail(distributed, "the distributed run");

  // What every iteration all-reduces: the gradients of the parameters (not the BN statistics).
  int64_t parameters = 0;
  for (const auto& item : load_checkpoint(dir.path() + "/single/latest.pth").state_dict) {
    if (item.key().find("running_") == std::string::npos &&
        item.key().find("num_batches_tracked") == std::string::npos)
      parameters += item.value().numel();
  }
  const RunTimes one = read_times(dir.path() + "/single", warmup);
  const RunTimes many = read_times(dir.path() + "/dist", warmup);
  std::cout << fmt::format(
      "\n{}: {} iterations of {} images, the first {} left out; {} cores here; {:.2f} M "
      "parameters ({:.1f} MB of float32 gradients all-reduced per iteration)\n",
      config, iters, batch, warmup, hardware_threads(), static_cast<double>(parameters) / 1e6,
      static_cast<double>(parameters) * 4 / 1e6);
  std::cout << fmt::format("{:<28}{:>10}{:>12}{:>12}{:>14}{:>10}\n", "", "s/iter", "images/s",
                           "data s/it", "all-reduce s", "share");
  std::cout << fmt::format("{:<28}{:>10.3f}{:>12.2f}{:>12.3f}{:>14}{:>10}\n",
                           fmt::format("1 process x {} threads", threads), one.time,
                           static_cast<double>(batch) / one.time, one.data_time, "-", "-");
  std::cout << fmt::format("{:<28}{:>10.3f}{:>12.2f}{:>12.3f}{:>14.4f}{:>9.1f}%\n",
                           fmt::format("{} processes x {} thread(s)", nproc, per_thread), many.time,
                           static_cast<double>(batch) / many.time, many.data_time,
                           many.allreduce_time, 100.0 * many.allreduce_time / many.time);
  std::cout << fmt::format(
      "throughput, {} processes / 1 process: {:.2f}x (both measured now, same global batch; "
      "all-reduce: the gradients' mean over the ranks, rank 0's time)\n",
      nproc, one.time / many.time);
  return 0;
}

}  // namespace detkit::cli
