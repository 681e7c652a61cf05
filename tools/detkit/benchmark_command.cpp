// `detkit benchmark coco-eval --gt G --dets D [--no-reference]`: times detkit's COCO evaluation
// (load / evaluate / accumulate) and prints it beside pycocotools' times on the same files,
// measured now by /usr/bin/python3 — or says that the reference is not available, and why.
#include <algorithm>
#include <chrono>
#include <iostream>
#include <optional>
#include <sstream>

#include <fmt/format.h>

#include "benchmark_support.h"
#include "cli.h"
#include "detkit/core/coco_eval.h"
#include "detkit/core/coco_json.h"
#include "detkit/core/runtime.h"
#include "detkit/error.h"

namespace detkit::cli {

namespace {

/// pycocotools' times, as measured by a Python child process.
struct ReferenceRun {
  double load = 0, evaluate = 0, accumulate = 0, ap = 0;
};

/// Runs pycocotools on the same files; nullopt, with `why` set, when it cannot run here.
std::optional<ReferenceRun> run_pycocotools(const std::string& gt, const std::string& dets,
                                            std::string& why) {
  const ReferenceOutput out = run_python_reference(
      "import contextlib, io, sys, time\n"
      "from pycocotools.coco import COCO\n"
      "from pycocotools.cocoeval import COCOeval\n"
      "with contextlib.redirect_stdout(io.StringIO()):\n"
      "    t0 = time.perf_counter(); gt = COCO(sys.argv[1]); dt = gt.loadRes(sys.argv[2])\n"
      "    t1 = time.perf_counter(); E = COCOeval(gt, dt, 'bbox'); E.evaluate()\n"
      "    t2 = time.perf_counter(); E.accumulate(); t3 = time.perf_counter(); E.summarize()\n"
      "print('DETKIT_REFERENCE', t1 - t0, t2 - t1, t3 - t2, E.stats[0])\n",
      {gt, dets});
  ReferenceRun run;
  std::istringstream line(out.results.empty() ? "" : out.results.front());
  if (out.ok && line >> run.load >> run.evaluate >> run.accumulate >> run.ap) return run;
  why = reference_failure_reason(out);
  return std::nullopt;
}

}  // namespace

int run_coco_eval_benchmark(const std::vector<std::string>& args) {
  po::options_description options("detkit benchmark coco-eval");
  add_common_options(options);
  options.add_options()("gt", po::value<std::string>()->required(),
                        "the ground-truth annotation file")(
      "dets", po::value<std::string>()->required(), "the result file")(
      "no-reference", "do not run pycocotools (by /usr/bin/python3) beside it")(
      "repeat", po::value<int>()->default_value(1), "runs to take the best time of")(
      "threads", po::value<int>()->default_value(0), "worker threads (0 = one per core)");
  po::variables_map vm;
  if (!parse(args, options, {}, vm,
             "detkit benchmark coco-eval --gt GT.json --dets RESULTS.json [--no-reference] "
             "[--repeat R] [--threads N]"))
    return 0;
  const std::string gt_path = vm["gt"].as<std::string>(), dets_path = vm["dets"].as<std::string>();
  const int repeat = std::max(1, vm["repeat"].as<int>());
  CocoEvalParams params;
  params.num_threads = vm["threads"].as<int>();
  const int threads = params.num_threads > 0 ? params.num_threads : hardware_threads();

  // Best of `repeat` runs for each phase.
  double load = 1e300, evaluate = 1e300, accumulate = 1e300;
  CocoGroundTruth gt;
  std::vector<CocoDetection> dets;
  CocoEvalResult result;
  for (int i = 0; i < repeat; ++i) {
    auto start = std::chrono::steady_clock::now();
    gt = read_coco_annotations(gt_path);
    dets = read_coco_results(dets_path);
    load = std::min(load, seconds_since(start));
    CocoEvaluator evaluator(gt, dets, params, dets_path);
    start = std::chrono::steady_clock::now();
    evaluator.evaluate();
    evaluate = std::min(evaluate, seconds_since(start));
    start = std::chrono::steady_clock::now();
    result = evaluator.accumulate();
    accumulate = std::min(accumulate, seconds_since(start));
  }

  std::optional<ReferenceRun> reference;
  std::string reference_note = "reference: not run (--no-reference)";
  if (!vm.count("no-reference")) {
    std::string why;
    reference = run_pycocotools(gt_path, dets_path, why);
    reference_note = reference ? "reference: pycocotools, measured now on this machine "
                                 "(ratio > 1: detkit is faster)"
                               : reference_not_available(why);
  }
  auto seconds = [](double value) { return fmt::format("{:.3f} s", value); };
  auto ref = [&](double ReferenceRun::*field) {
    return reference ? seconds((*reference).*field) : std::string("-");
  };
  const double total = evaluate + accumulate;
  std::cout << fmt::format(
      "COCO bbox evaluation: {} images, {} categories, {} annotations, {} detections; {} "
      "thread(s), best of {}\n",
      gt.images.size(), gt.categories.size(), gt.annotations.size(), dets.size(), threads, repeat);
  std::cout << fmt::format("{:<24}{:>14}{:>16}{:>12}\n", "", "detkit", "pycocotools", "ratio");
  std::cout << fmt::format("{:<24}{:>14}{:>16}\n", "load (gt + results)", seconds(load),
                           ref(&ReferenceRun::load));
  std::cout << fmt::format("{:<24}{:>14}{:>16}\n", "evaluate", seconds(evaluate),
                           ref(&ReferenceRun::evaluate));
  std::cout << fmt::format("{:<24}{:>14}{:>16}\n", "accumulate", seconds(accumulate),
                           ref(&ReferenceRun::accumulate));
  const std::string reference_total =
      reference ? seconds(reference->evaluate + reference->accumulate) : std::string("-");
  const std::string ratio =
      reference ? fmt::format("{:.1f}x",
                              (reference->evaluate + reference->accumulate) / std::max(total, 1e-9))
                : std::string("-");
  std::cout << fmt::format("{:<24}{:>14}{:>16}{:>12}\n", "evaluate + accumulate", seconds(total),
                           reference_total, ratio);
  std::cout << fmt::format("{:<24}{:>14}{:>16}\n", "AP @[.50:.95]",
                           fmt::format("{:.4f}", result.stats[0]),
                           reference ? fmt::format("{:.4f}", reference->ap) : std::string("-"));
  std::cout << reference_note << "\n";
  return 0;
}

}  // namespace detkit::cli
