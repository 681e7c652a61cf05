// `detkit benchmark losses [--num N] [--classes C] [--repeat R] [--no-reference]`: builds each
// loss of the losses plugin from a config (as a detector would), times forward + backward on
// RetinaNet-sized inputs, and prints the time beside PyTorch/torchvision's equivalent call run
// by Debian's /usr/bin/python3 on the same sizes and thread count.
#include <torch/torch.h>

#include <chrono>
#include <iostream>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "benchmark_support.h"
#include "cli.h"
#include "detkit/core/config.h"
#include "detkit/modeling/loss.h"
#include "detkit/registry.h"

namespace detkit::cli {

namespace {

/// One benchmarked loss: its config and how to make inputs for it.
struct LossCase {
  std::string name;
  std::string config;
  /// Python statement computing the same loss from tensors `pred`, `target` (reference).
  std::string reference;
};

std::vector<LossCase> loss_cases() {
  return {
      {"FocalLoss", "{type: FocalLoss, gamma: 2.0, alpha: 0.25}",
       "torchvision.ops.sigmoid_focal_loss(pred, F.one_hot(target, C + 1)[:, :C].float(), "
       "0.25, 2.0, 'sum') / N"},
      {"CrossEntropyLoss", "{type: CrossEntropyLoss}", "F.cross_entropy(pred, target)"},
      {"L1Loss", "{type: L1Loss}", "F.l1_loss(pred, target)"},
      {"SmoothL1Loss", "{type: SmoothL1Loss, beta: 0.11}",
       "F.smooth_l1_loss(pred, target, beta=0.11)"},
      {"GIoULoss", "{type: GIoULoss}",
       "torchvision.ops.generalized_box_iou_loss(pred, target, 'mean')"},
  };
}

/// Inputs of a loss case: prediction (requires grad) and target.
std::pair<torch::Tensor, torch::Tensor> make_inputs(const std::string& name, int64_t n, int64_t c) {
  torch::manual_seed(0);
  if (name == "FocalLoss")
    return {torch::randn({n, c}), torch::randint(0, c + 1, {n}, torch::kLong)};
  if (name == "CrossEntropyLoss")
    return {torch::randn({n, c + 1}), torch::randint(0, c + 1, {n}, torch::kLong)};
  if (name == "GIoULoss") {
    auto boxes = [&] {
      auto xy = torch::rand({n, 2}) * 100;
      return torch::cat({xy, xy + 1 + torch::rand({n, 2}) * 50}, 1);
    };
    return {boxes(), boxes()};
  }
  return {torch::randn({n, 4}), torch::randn({n, 4})};
}

/// Times forward + backward of each case in Python; returns name -> seconds (best of repeat).
std::map<std::string, double> run_reference(int64_t n, int64_t c, int repeat, int threads) {
  std::ostringstream script;
  script << "import time, torch, torchvision\nimport torch.nn.functional as F\n"
         << "torch.set_num_threads(" << threads << ")\ntorch.manual_seed(0)\nN, C = " << n << ", "
         << c << "\n"
         << "def inputs(name):\n"
         << "    if name == 'FocalLoss': return torch.randn(N, C), torch.randint(0, C + 1, (N,))\n"
         << "    if name == 'CrossEntropyLoss': return torch.randn(N, C + 1), torch.randint(0, C + "
            "1, (N,))\n"
         << "    if name == 'GIoULoss':\n"
         << "        def boxes():\n"
         << "            xy = torch.rand(N, 2) * 100\n"
         << "            return torch.cat([xy, xy + 1 + torch.rand(N, 2) * 50], 1)\n"
         << "        return boxes(), boxes()\n"
         << "    return torch.randn(N, 4), torch.randn(N, 4)\n";
  for (const auto& c_ : loss_cases()) {
    script << "pred, target = inputs('" << c_.name << "')\nbest = 1e9\n"
           << "for _ in range(" << repeat << "):\n"
           << "    pred = pred.detach().requires_grad_(True)\n"
           << "    t = time.perf_counter(); loss = " << c_.reference
           << "; loss.backward(); best = min(best, time.perf_counter() - t)\n"
           << "print('DETKIT_REFERENCE', '" << c_.name << "', best)\n";
  }
  std::map<std::string, double> out;
  for (const std::string& result : run_python_reference(script.str()).results) {
    std::istringstream line(result);
    std::string name;
    double seconds = 0;
    if (line >> name >> seconds) out[name] = seconds;
  }
  return out;
}

}  // namespace

int run_losses_benchmark(const std::vector<std::string>& args) {
  po::options_description options("detkit benchmark losses");
  add_common_options(options);
  options.add_options()("num", po::value<int64_t>()->default_value(100000),
                        "predictions per call (RetinaNet at 1333x800 has ~120k anchors)")(
      "classes", po::value<int64_t>()->default_value(80), "classes (FocalLoss, CrossEntropyLoss)")(
      "repeat", po::value<int>()->default_value(5), "runs to take the best time of")(
      "no-reference", "do not run the PyTorch/torchvision reference");
  po::positional_options_description positional;
  po::variables_map vm;
  if (!parse(args, options, positional, vm, "detkit benchmark losses [--num N] [--classes C]"))
    return 0;
  const int64_t n = vm["num"].as<int64_t>(), c = vm["classes"].as<int64_t>();
  const int repeat = std::max(1, vm["repeat"].as<int>());
  if (n < 1 || c < 1) throw Error("--num and --classes must be positive");
  load_plugins(vm, nullptr, true);
  const int threads = at::get_num_threads();
  std::map<std::string, double> reference;
  if (!vm.count("no-reference")) reference = run_reference(n, c, repeat, threads);

  std::cout << fmt::format(
      "losses: forward + backward, {} predictions, {} classes, {} thread(s), "
      "best of {}\n",
      n, c, threads, repeat);
  std::cout << fmt::format("{:<18}{:>12}{:>14}{:>10}{:>16}\n", "loss", "detkit", "PyTorch", "ratio",
                           "value");
  for (const auto& lc : loss_cases()) {
    auto loss = build<LossBase>(parse_yaml_text(lc.config, "benchmark"), lc.name);
    auto [pred, target] = make_inputs(lc.name, n, c);
    double best = 1e9;
    double value = 0;
    for (int r = 0; r < repeat; ++r) {
      pred = pred.detach().requires_grad_(true);
      const auto start = std::chrono::steady_clock::now();
      std::optional<double> avg_factor;
      if (lc.name == "FocalLoss") avg_factor = static_cast<double>(n);
      auto out = loss->forward(pred, target, {}, avg_factor);
      out.backward();
      best = std::min(best, seconds_since(start));
      value = out.item<double>();
    }
    auto it = reference.find(lc.name);
    const std::string ref = it == reference.end() ? "-" : fmt::format("{:.4f} s", it->second);
    const std::string ratio =
        it == reference.end() ? "-" : fmt::format("{:.2f}x", it->second / std::max(best, 1e-9));
    std::cout << fmt::format("{:<18}{:>12}{:>14}{:>10}{:>16.6f}\n", lc.name,
                             fmt::format("{:.4f} s", best), ref, ratio, value);
  }
  if (!vm.count("no-reference") && reference.empty())
    std::cout << "reference: /usr/bin/python3 with torch and torchvision is not available\n";
  else if (!reference.empty())
    std::cout << "reference: the same call in PyTorch "
              << "(ratio > 1: detkit is faster)\n";
  return 0;
}

}  // namespace detkit::cli
