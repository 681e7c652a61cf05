// `detkit benchmark losses [--num N] [--classes C] [--repeat R] [--no-reference]`: times forward
// + backward of every registered loss (kind `loss`, whatever plugin provides it), each built
// from its defaults and called on random inputs of the form it declares
// (LossBase::input_form), beside the same call in PyTorch / torchvision, run now by Debian's
// /usr/bin/python3 on the same inputs and thread count.
#include <torch/torch.h>

#include <chrono>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

#include <fmt/format.h>

#include "benchmark_support.h"
#include "cli.h"
#include "detkit/config_node.h"
#include "detkit/modeling/loss.h"
#include "detkit/registry.h"

namespace detkit::cli {

namespace {

/// The PyTorch / torchvision call (Python, on `pred` and `target`; C is --classes) equal to
/// MMDetection's loss of that type with its default parameters. This is knowledge about
/// MMDetection's losses, not about the plugins: which losses run comes from the registry, and a
/// loss without an entry here is timed without a reference.
const std::map<std::string, std::string>& pytorch_equivalents() {
  static const std::map<std::string, std::string> table = {
      {"FocalLoss",
       "torchvision.ops.sigmoid_focal_loss(pred, F.one_hot(target, C + 1)[:, :C].to(pred.dtype), "
       "0.25, 2.0, 'mean')"},
      {"CrossEntropyLoss", "F.cross_entropy(pred, target)"},
      {"L1Loss", "F.l1_loss(pred, target)"},
      {"SmoothL1Loss", "F.smooth_l1_loss(pred, target, beta=1.0)"},
      {"GIoULoss", "torchvision.ops.generalized_box_iou_loss(pred, target, 'mean')"},
  };
  return table;
}

/// The name of an input form, as the Python reference script spells it.
const char* form_name(LossInput form) {
  switch (form) {
    case LossInput::sigmoid_scores:
      return "sigmoid_scores";
    case LossInput::softmax_scores:
      return "softmax_scores";
    case LossInput::boxes:
      return "boxes";
    case LossInput::elementwise:
      return "elementwise";
  }
  return "elementwise";
}

/// Random inputs of `form` for n predictions of c classes: (pred, target). The reference script
/// makes the same tensors (same seed, same calls).
std::pair<torch::Tensor, torch::Tensor> make_inputs(LossInput form, int64_t n, int64_t c) {
  torch::manual_seed(0);
  switch (form) {
    case LossInput::sigmoid_scores:
      return {torch::randn({n, c}), torch::randint(0, c + 1, {n}, torch::kLong)};
    case LossInput::softmax_scores:
      return {torch::randn({n, c + 1}), torch::randint(0, c + 1, {n}, torch::kLong)};
    case LossInput::boxes: {
      auto boxes = [&] {
        const torch::Tensor xy = torch::rand({n, 2}) * 100;
        return torch::cat({xy, xy + 1 + torch::rand({n, 2}) * 50}, 1);
      };
      torch::Tensor pred = boxes();
      return {pred, boxes()};
    }
    case LossInput::elementwise:
      break;
  }
  torch::Tensor pred = torch::randn({n, 4});
  return {pred, torch::randn({n, 4})};
}

/// The Python side of make_inputs().
constexpr const char* kReferenceInputs =
    "def inputs(form):\n"
    "    torch.manual_seed(0)\n"
    "    if form == 'sigmoid_scores': return torch.randn(N, C), torch.randint(0, C + 1, (N,))\n"
    "    if form == 'softmax_scores': return torch.randn(N, C + 1), torch.randint(0, C + 1, (N,))\n"
    "    if form == 'boxes':\n"
    "        def boxes():\n"
    "            xy = torch.rand(N, 2) * 100\n"
    "            return torch.cat([xy, xy + 1 + torch.rand(N, 2) * 50], 1)\n"
    "        pred = boxes()\n"
    "        return pred, boxes()\n"
    "    pred = torch.randn(N, 4)\n"
    "    return pred, torch.randn(N, 4)\n";

/// One loss to time: its type, the built loss, and its inputs' form.
struct LossCase {
  std::string type;
  std::shared_ptr<LossBase> loss;
  LossInput form = LossInput::elementwise;
};

/// A reference result: best seconds and the loss value, or why there is none.
struct ReferenceResult {
  std::optional<double> seconds, value;
  std::string why;
};

/// Times forward + backward of each case that has a PyTorch equivalent, in Python. Every case
/// gets a result: its numbers, or the reason they are missing.
std::map<std::string, ReferenceResult> run_reference(const std::vector<LossCase>& cases, int64_t n,
                                                     int64_t c, int repeat, int threads) {
  std::ostringstream script;
  script << "import time, torch, torchvision\nimport torch.nn.functional as F\n"
         << "torch.set_num_threads(" << threads << ")\nN, C = " << n << ", " << c << "\n"
         << kReferenceInputs << "def bench(name, form, fn):\n"
         << "    try:\n"
         << "        pred, target = inputs(form)\n"
         << "        best = 1e9\n"
         << "        for _ in range(" << repeat << "):\n"
         << "            pred = pred.detach().requires_grad_(True)\n"
         << "            t = time.perf_counter(); loss = fn(pred, target); loss.backward()\n"
         << "            best = min(best, time.perf_counter() - t)\n"
         << "        print('DETKIT_REFERENCE', name, best, loss.item())\n"
         << "    except Exception as e:\n"
         << "        print('DETKIT_REFERENCE', name, 'failed:', repr(e).replace('\\n', ' '))\n";
  std::map<std::string, ReferenceResult> out;
  for (const auto& lc : cases) {
    const auto it = pytorch_equivalents().find(lc.type);
    if (it == pytorch_equivalents().end()) {
      out[lc.type].why = "no PyTorch equivalent known for " + lc.type;
      continue;
    }
    script << "bench('" << lc.type << "', '" << form_name(lc.form)
           << "', lambda pred, target: " << it->second << ")\n";
  }
  const ReferenceOutput reference = run_python_reference(script.str());
  for (const std::string& result : reference.results) {
    std::istringstream line(result);
    std::string name;
    double seconds = 0, value = 0;
    if (!(line >> name)) continue;
    if (line >> seconds >> value) {
      out[name].seconds = seconds;
      out[name].value = value;
    } else {
      out[name].why = result.substr(std::min(result.size(), name.size() + 1));
    }
  }
  for (const auto& lc : cases) {
    ReferenceResult& r = out[lc.type];
    if (!r.seconds && r.why.empty()) r.why = reference_failure_reason(reference);
  }
  return out;
}

/// The first line of `text`.
std::string first_line(const std::string& text) {
  return text.substr(0, text.find('\n'));
}

}  // namespace

int run_losses_benchmark(const std::vector<std::string>& args) {
  po::options_description options("detkit benchmark losses");
  add_common_options(options);
  options.add_options()("num", po::value<int64_t>()->default_value(100000),
                        "predictions per call (RetinaNet at 1333x800 has ~120k anchors)")(
      "classes", po::value<int64_t>()->default_value(80), "classes of class-score losses")(
      "repeat", po::value<int>()->default_value(5), "runs to take the best time of")(
      "no-reference", "do not run the PyTorch/torchvision reference");
  po::positional_options_description positional;
  po::variables_map vm;
  if (!parse(args, options, positional, vm, "detkit benchmark losses [--num N] [--classes C]"))
    return 0;
  const int64_t n = vm["num"].as<int64_t>(), c = vm["classes"].as<int64_t>();
  const int repeat = std::max(1, vm["repeat"].as<int>());
  if (n < 1 || c < 1) throw UsageError("--num and --classes must be positive");
  load_plugins(vm, nullptr, true);
  const int threads = at::get_num_threads();

  // Every registered loss that builds from its defaults.
  std::vector<LossCase> cases;
  std::vector<std::string> notes;
  for (const ComponentInfo* info : Registry::of(Kind::loss).components()) {
    ConfigNode cfg = ConfigNode::make_map();
    cfg.set("type", ConfigNode(info->type));
    try {
      auto loss = build<LossBase>(cfg, "loss");
      cases.push_back({info->type, loss, loss->input_form()});
    } catch (const std::exception& e) {
      notes.push_back(info->type + ": not built from its defaults (" + first_line(e.what()) + ")");
    }
  }
  if (cases.empty()) throw Error("no loss is registered (is the losses plugin found?)");
  std::map<std::string, ReferenceResult> reference;
  if (!vm.count("no-reference")) reference = run_reference(cases, n, c, repeat, threads);

  std::cout << fmt::format(
      "losses: forward + backward with default parameters, {} predictions, {} classes, {} "
      "thread(s), best of {}\n",
      n, c, threads, repeat);
  std::map<std::string, std::vector<std::string>> unmeasured;  // reason -> loss types
  std::cout << fmt::format("{:<18}{:>12}{:>12}{:>9}{:>14}{:>14}\n", "loss", "detkit", "PyTorch",
                           "ratio", "value", "PyTorch value");
  for (const auto& lc : cases) {
    auto [pred, target] = make_inputs(lc.form, n, c);
    double best = 1e300, value = 0;
    try {
      for (int r = 0; r < repeat; ++r) {
        pred = pred.detach().requires_grad_(true);
        const auto start = std::chrono::steady_clock::now();
        const torch::Tensor out = lc.loss->forward(pred, target);
        out.backward();
        best = std::min(best, seconds_since(start));
        value = out.item<double>();
      }
    } catch (const std::exception& e) {
      notes.push_back(lc.type + ": failed on " + form_name(lc.form) + " inputs (" +
                      first_line(e.what()) + ")");
      continue;
    }
    const auto it = reference.find(lc.type);
    const ReferenceResult* ref = it == reference.end() ? nullptr : &it->second;
    const bool measured = ref != nullptr && ref->seconds;
    std::cout << fmt::format(
        "{:<18}{:>12}{:>12}{:>9}{:>14.6f}{:>14}\n", lc.type, fmt::format("{:.4f} s", best),
        measured ? fmt::format("{:.4f} s", *ref->seconds) : "-",
        measured ? fmt::format("{:.2f}x", *ref->seconds / std::max(best, 1e-9)) : "-", value,
        measured ? fmt::format("{:.6f}", *ref->value) : "-");
    if (ref != nullptr && !measured) unmeasured[ref->why].push_back(lc.type);
  }
  if (vm.count("no-reference")) {
    std::cout << "reference: not run (--no-reference)\n";
  } else {
    std::cout << "reference: the same call in PyTorch/torchvision on the same inputs, measured now "
                 "(ratio > 1: detkit is faster)\n";
  }
  for (const auto& [why, types] : unmeasured) {
    std::string names;
    for (const auto& type : types)
      names += (names.empty() ? "" : ", ") + type;
    std::cout << names << ": " << reference_not_available(why) << "\n";
  }
  for (const auto& note : notes)
    std::cout << note << "\n";
  return 0;
}

}  // namespace detkit::cli
