// `detkit benchmark model CONFIG [--shape HxW] [--threads N] [--repeat R] [--no-reference]`:
// times the model's forward pass (backbone, neck, head) and its post-processing (decoding,
// NMS) on one random image, and, where torchvision has the same model (RetinaNet with a
// ResNet-50 FPN), torchvision's in the same run, on the same shape and thread count.
#include <torch/torch.h>

#include <chrono>
#include <iostream>
#include <optional>
#include <sstream>

#include <fmt/format.h>

#include "benchmark_support.h"
#include "cli.h"
#include "detkit/core/inference.h"
#include "detkit/modeling/backbone.h"
#include "detkit/modeling/base_module.h"
#include "detkit/modeling/dense_head.h"
#include "detkit/modeling/neck.h"

namespace detkit::cli {

namespace {

/// torchvision's retinanet_resnet50_fpn (its own init: random weights, prior-probability bias),
/// timed as detkit is: backbone + FPN + head, then anchors + post-processing, best of R runs.
constexpr const char* kTorchvisionRetinaNet = R"PY(
import sys, time, torch, torchvision
from torchvision.models.detection.image_list import ImageList
h, w, threads, repeat = (int(a) for a in sys.argv[1:5])
torch.set_num_threads(threads)
torch.manual_seed(0)
model = torchvision.models.detection.retinanet_resnet50_fpn(weights=None, weights_backbone=None).eval()
x = torch.randn(1, 3, h, w)
best_forward = best_post = float('inf')
with torch.no_grad():
    for _ in range(repeat + 1):
        start = time.perf_counter()
        features = list(model.backbone(x).values())
        head = model.head(features)
        middle = time.perf_counter()
        images = ImageList(x, [(h, w)])
        anchors = model.anchor_generator(images, features)
        per_level = [f.size(2) * f.size(3) for f in features]
        a = head['cls_logits'].size(1) // sum(per_level)
        per_level = [n * a for n in per_level]
        split_head = {k: list(v.split(per_level, dim=1)) for k, v in head.items()}
        split_anchors = [list(t.split(per_level)) for t in anchors]
        dets = model.postprocess_detections(split_head, split_anchors, images.image_sizes)
        end = time.perf_counter()
        if _ > 0:  # the first run warms up
            best_forward = min(best_forward, middle - start)
            best_post = min(best_post, end - middle)
print('DETKIT_REFERENCE', best_forward, best_post, len(dets[0]['boxes']))
)PY";

/// Removes every `init_cfg` of type Pretrained (random weights are enough to time a model, and
/// the checkpoint may not be on this machine); returns how many it removed.
int drop_pretrained(ConfigNode& node) {
  int removed = 0;
  if (node.is_map()) {
    if (ConfigNode* init = node.find("init_cfg")) {
      const ConfigNode* type = init->is_map() ? init->find("type") : nullptr;
      if (type != nullptr && type->is_string() && type->as_string() == "Pretrained") {
        *init = ConfigNode();
        ++removed;
      }
    }
    for (auto& entry : node.entries())
      removed += drop_pretrained(entry.value);
  } else if (node.is_list()) {
    for (auto& item : node.items())
      removed += drop_pretrained(item);
  }
  return removed;
}

/// The child `name` of `model` as `T`, or null.
template <class T>
std::shared_ptr<T> child_as(const torch::nn::Module& model, const std::string& name) {
  for (const auto& item : model.named_children()) {
    if (item.key() == name) return std::dynamic_pointer_cast<T>(item.value());
  }
  return nullptr;
}

/// Whether the config is torchvision's retinanet_resnet50_fpn's architecture.
bool is_retinanet_r50(const ConfigNode& config) {
  const ConfigNode* model = config.find("model");
  if (model == nullptr || !model->is_map()) return false;
  const ConfigNode* type = model->find("type");
  const ConfigNode* backbone = model->find("backbone");
  if (type == nullptr || !type->is_string() || type->as_string() != "RetinaNet") return false;
  if (backbone == nullptr || !backbone->is_map()) return false;
  const ConfigNode* depth = backbone->find("depth");
  const ConfigNode* btype = backbone->find("type");
  return btype != nullptr && btype->is_string() && btype->as_string() == "ResNet" &&
         depth != nullptr && depth->is_int() && depth->as_int() == 50;
}

}  // namespace

int run_model_benchmark(const std::vector<std::string>& args) {
  po::options_description options("detkit benchmark model");
  add_common_options(options);
  options.add_options()("config", po::value<std::string>()->required(), "the model's config")(
      "shape", po::value<std::string>()->default_value("800x1216"),
      "input height x width (padded, normalised)")("threads", po::value<int>()->default_value(0),
                                                   "intra-op threads (0 = one per core)")(
      "repeat", po::value<int>()->default_value(3),
      "runs to take the best time of (after one "
      "warm-up run)")("no-reference", "do not run torchvision's model beside it")(
      "cfg-options", po::value<std::vector<std::string>>()->multitoken()->composing(),
      "override config values: key=value ...");
  po::positional_options_description positional;
  positional.add("config", 1);
  po::variables_map vm;
  if (!parse(args, options, positional, vm,
             "detkit benchmark model CONFIG [--shape HxW] [--threads N] [--no-reference]"))
    return 0;
  int64_t height = 0, width = 0;
  {
    const std::string shape = vm["shape"].as<std::string>();
    char x = 0;
    std::istringstream in(shape);
    if (!(in >> height >> x >> width) || x != 'x' || !in.eof() || height < 32 || width < 32 ||
        height > 8192 || width > 8192)
      throw UsageError("--shape expects HxW between 32x32 and 8192x8192, got '" + shape + "'");
  }
  const int repeat = std::max(1, vm["repeat"].as<int>());
  if (vm["threads"].as<int>() < 0) throw UsageError("--threads must be >= 0");
  if (vm["threads"].as<int>() > 0) torch::set_num_threads(vm["threads"].as<int>());
  const int threads = at::get_num_threads();

  ConfigNode config = load_config_from(vm);
  load_plugins(vm, &config, /*strict=*/true);
  const int dropped = drop_pretrained(config);
  auto model = build_detector(config, class_names_from(config, nullptr));
  init_weights(*model);
  model->eval();
  auto backbone = child_as<BackboneBase>(*model, "backbone");
  auto neck = child_as<NeckBase>(*model, "neck");
  auto head = child_as<DenseHeadBase>(*model, "bbox_head");

  torch::manual_seed(0);
  ImageBatch batch;
  batch.images = torch::randn({1, 3, height, width});
  DetSample sample;
  sample.meta.ori_shape = sample.meta.img_shape = sample.meta.pad_shape = {height, width, 3};
  batch.samples.push_back(sample);

  double best_forward = 1e300, best_post = 1e300;
  int64_t detections = 0;
  const bool split = backbone && head;
  {
    torch::NoGradGuard no_grad;
    for (int run = 0; run <= repeat; ++run) {
      const auto start = std::chrono::steady_clock::now();
      double forward = 0, post = 0;
      if (split) {
        std::vector<torch::Tensor> features = backbone->forward(batch.images);
        if (neck) features = neck->forward(features);
        const MultiLevelOutputs outputs = head->forward(features);
        forward = seconds_since(start);
        const auto middle = std::chrono::steady_clock::now();
        detections = head->predict(outputs, batch.samples).front().size();
        post = seconds_since(middle);
      } else {
        detections = model->predict(batch).front().size();
        forward = seconds_since(start);
      }
      if (run == 0) continue;  // warm-up
      best_forward = std::min(best_forward, forward);
      best_post = std::min(best_post, post);
    }
  }

  std::optional<double> ref_forward, ref_post;
  std::string why;
  if (vm.count("no-reference")) {
    why = "not run (--no-reference)";
  } else if (!is_retinanet_r50(config)) {
    why = reference_not_available(
        "torchvision has no model equal to this config; it has "
        "RetinaNet with a ResNet-50 FPN");
  } else {
    const ReferenceOutput out = run_python_reference(
        kTorchvisionRetinaNet, {std::to_string(height), std::to_string(width),
                                std::to_string(threads), std::to_string(repeat)});
    double f = 0, p = 0;
    if (out.ok && !out.results.empty() && (std::istringstream(out.results.front()) >> f >> p)) {
      ref_forward = f;
      ref_post = p;
    } else {
      why = reference_not_available(reference_failure_reason(out));
    }
  }

  std::cout << fmt::format(
      "model: {} on one {}x{} image, {} thread(s), best of {} (after a "
      "warm-up run){}\n",
      vm["config"].as<std::string>(), height, width, threads, repeat,
      dropped ? ", Pretrained init_cfg ignored (random weights)" : "");
  std::cout << fmt::format("{:<18}{:>12}{:>14}{:>9}\n", "stage", "detkit", "torchvision", "ratio");
  auto row = [&](const char* stage, double ours, std::optional<double> theirs) {
    std::cout << fmt::format("{:<18}{:>12}{:>14}{:>9}\n", stage, fmt::format("{:.3f} s", ours),
                             theirs ? fmt::format("{:.3f} s", *theirs) : "-",
                             theirs ? fmt::format("{:.2f}x", *theirs / std::max(ours, 1e-9)) : "-");
  };
  row(split ? "forward" : "predict (all)", best_forward, ref_forward);
  if (split) row("post-processing", best_post, ref_post);
  std::cout << fmt::format("detections on the random image: {}\n", detections);
  if (ref_forward) {
    std::cout << "reference: torchvision's retinanet_resnet50_fpn on the same shape and threads, "
                 "measured now (ratio > 1: detkit is faster)\n";
  } else {
    std::cout << "reference: " << why << "\n";
  }
  return 0;
}

}  // namespace detkit::cli
