// `detkit benchmark model CONFIG [--shape HxW] [--threads N] [--repeat R] [--no-reference]`:
// times the model's forward pass stage by stage on one random image: for a single-stage detector
// backbone, neck, head and post-processing (decoding, NMS); for a two-stage one backbone, neck,
// RPN (head and proposals) and RoI head (pooling, box head, NMS). Where torchvision has the same
// model (RetinaNet or Faster R-CNN with a ResNet-50 FPN), torchvision's is timed in the same run,
// on the same shape and thread count.
#include <torch/torch.h>

#include <array>
#include <chrono>
#include <iostream>
#include <optional>
#include <sstream>

#include <fmt/format.h>

#include "benchmark_support.h"
#include "cli.h"
#include "detkit/checkpoint.h"
#include "detkit/core/checkpoint_convert.h"
#include "detkit/core/inference.h"
#include "detkit/core/runtime.h"
#include "detkit/modeling/backbone.h"
#include "detkit/modeling/base_module.h"
#include "detkit/modeling/dense_head.h"
#include "detkit/modeling/neck.h"
#include "detkit/modeling/roi_head.h"

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
torch.save(model.state_dict(), sys.argv[5])  # detkit runs the same weights
x = torch.randn(1, 3, h, w)
torch.save({'input': x}, sys.argv[6])  # and the same input
best = [float('inf')] * 4  # backbone, neck, head, post-processing
with torch.no_grad():
    for _ in range(repeat + 1):
        start = time.perf_counter()
        body = model.backbone.body(x)
        t_body = time.perf_counter()
        features = list(model.backbone.fpn(body).values())
        t_neck = time.perf_counter()
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
            times = (t_body - start, t_neck - t_body, middle - t_neck, end - middle)
            best = [min(b, t) for b, t in zip(best, times)]
print('DETKIT_REFERENCE', *best, len(dets[0]['boxes']))
)PY";

/// torchvision's fasterrcnn_resnet50_fpn (random weights), timed as detkit is: backbone, FPN,
/// RPN (head, anchors, proposals), RoI heads (pooling, box head, post-processing), best of R.
constexpr const char* kTorchvisionFasterRCNN = R"PY(
import sys, time, torch, torchvision
from torchvision.models.detection.image_list import ImageList
h, w, threads, repeat = (int(a) for a in sys.argv[1:5])
torch.set_num_threads(threads)
torch.manual_seed(0)
model = torchvision.models.detection.fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None).eval()
torch.save(model.state_dict(), sys.argv[5])  # detkit runs the same weights
x = torch.randn(1, 3, h, w)
torch.save({'input': x}, sys.argv[6])  # and the same input
best = [float('inf')] * 4  # backbone, neck, rpn, roi heads
with torch.no_grad():
    for _ in range(repeat + 1):
        start = time.perf_counter()
        body = model.backbone.body(x)
        t_body = time.perf_counter()
        features = model.backbone.fpn(body)
        t_neck = time.perf_counter()
        images = ImageList(x, [(h, w)])
        proposals, _losses = model.rpn(images, features)
        t_rpn = time.perf_counter()
        dets, _losses = model.roi_heads(features, proposals, images.image_sizes)
        end = time.perf_counter()
        if _ > 0:  # the first run warms up
            times = (t_body - start, t_neck - t_body, t_rpn - t_neck, end - t_rpn)
            best = [min(b, t) for b, t in zip(best, times)]
print('DETKIT_REFERENCE', *best, len(dets[0]['boxes']), len(proposals[0]))
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

/// Whether the config's model is a `detector_type` on a ResNet-50 (the architecture of
/// torchvision's retinanet_resnet50_fpn or fasterrcnn_resnet50_fpn).
bool is_r50(const ConfigNode& config, const std::string& detector_type) {
  const ConfigNode* model = config.find("model");
  if (model == nullptr || !model->is_map()) return false;
  const ConfigNode* type = model->find("type");
  const ConfigNode* backbone = model->find("backbone");
  if (type == nullptr || !type->is_string() || type->as_string() != detector_type) return false;
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
  if (vm["threads"].as<int>() > 0) set_intra_op_threads(vm["threads"].as<int>(), "--threads");
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
  auto rpn_head = child_as<DenseHeadBase>(*model, "rpn_head");
  auto roi_head = child_as<RoIHeadBase>(*model, "roi_head");
  const bool two_stage = backbone && rpn_head && roi_head;

  // torchvision first: it saves its random weights, which detkit then runs too when the config
  // is torchvision's architecture (the RoI head's work depends on the proposals, thus on them).
  ScopedTempDir weights_dir("detkit-benchmark-weights");
  const std::string torchvision_weights = weights_dir.path() + "/torchvision.pth";
  const std::string torchvision_input = weights_dir.path() + "/input.pth";
  std::optional<std::array<double, 4>> reference;
  int64_t reference_detections = -1, reference_proposals = -1;
  std::string why;
  if (vm.count("no-reference")) {
    why = "not run (--no-reference)";
  } else if (!is_r50(config, "RetinaNet") && !is_r50(config, "FasterRCNN")) {
    why = reference_not_available(
        "torchvision has no model equal to this config; it has "
        "RetinaNet and FasterRCNN with a ResNet-50 FPN");
  } else {
    const ReferenceOutput out = run_python_reference(
        two_stage ? kTorchvisionFasterRCNN : kTorchvisionRetinaNet,
        {std::to_string(height), std::to_string(width), std::to_string(threads),
         std::to_string(repeat), torchvision_weights, torchvision_input});
    std::array<double, 4> ref{};
    std::istringstream fields(out.results.empty() ? std::string() : out.results.front());
    if (out.ok && (fields >> ref[0] >> ref[1] >> ref[2] >> ref[3])) {
      reference = ref;
      fields >> reference_detections >> reference_proposals;
    } else {
      why = reference_not_available(reference_failure_reason(out));
    }
  }

  std::string weights = "random, different on each side";
  if (reference) {
    try {
      const StateDict converted = convert_torchvision_state_dict(
          load_checkpoint(torchvision_weights).state_dict, two_stage ? "fasterrcnn" : "retinanet");
      const LoadReport report = load_state_dict(*model, converted, LoadPolicy::strict);
      if (!report.clean()) throw Error(report.message());
      weights =
          "torchvision's random ones, converted, on its random image: the same model on the same "
          "input on both sides";
    } catch (const std::exception& e) {
      weights += std::string(" (torchvision's do not load: ") + e.what() + ")";
    }
  }

  torch::manual_seed(0);
  ImageBatch batch;
  batch.images = torch::randn({1, 3, height, width});
  if (reference) {
    // torchvision's random image, so that both sides see the same input.
    const StateDict saved = load_checkpoint(torchvision_input).state_dict;
    if (const torch::Tensor* input = saved.find("input")) batch.images = *input;
  }
  DetSample sample;
  sample.meta.ori_shape = sample.meta.img_shape = sample.meta.pad_shape = {height, width, 3};
  batch.samples.push_back(sample);

  // Best time of each stage: backbone, neck, head, post-processing (two-stage: backbone, neck,
  // RPN, RoI head), or the whole predict().
  std::array<double, 4> best;
  best.fill(1e300);
  int64_t detections = 0, proposal_count = 0;
  const bool split = (backbone && head) || two_stage;
  {
    torch::NoGradGuard no_grad;
    for (int run = 0; run <= repeat; ++run) {
      std::array<double, 4> times{};
      auto stage_start = std::chrono::steady_clock::now();
      auto lap = [&](double& slot) {
        slot = seconds_since(stage_start);
        stage_start = std::chrono::steady_clock::now();
      };
      if (split) {
        std::vector<torch::Tensor> features = backbone->forward(batch.images);
        lap(times[0]);
        if (neck) features = neck->forward(features);
        lap(times[1]);
        if (two_stage) {
          // The RPN's proposals in input pixels (the scale factor is 1), then the RoI head.
          const std::vector<Instances> proposals =
              rpn_head->predict(rpn_head->forward(features), batch.samples);
          proposal_count = proposals.front().size();
          lap(times[2]);
          detections = roi_head->predict(features, proposals, batch.samples).front().size();
          lap(times[3]);
        } else {
          const MultiLevelOutputs outputs = head->forward(features);
          lap(times[2]);
          detections = head->predict(outputs, batch.samples).front().size();
          lap(times[3]);
        }
      } else {
        detections = model->predict(batch).front().size();
        lap(times[0]);
      }
      if (run == 0) continue;  // warm-up
      for (size_t i = 0; i < best.size(); ++i)
        best[i] = std::min(best[i], times[i]);
    }
  }

  std::cout << fmt::format(
      "model: {} on one {}x{} image, {} thread(s), best of {} (after a "
      "warm-up run){}\n",
      vm["config"].as<std::string>(), height, width, threads, repeat,
      dropped ? ", Pretrained init_cfg ignored (random weights)" : "");
  std::cout << fmt::format("{:<18}{:>12}{:>14}{:>9}\n", "stage", "detkit", "torchvision", "ratio");
  auto row = [&](const char* stage, double ours, std::optional<double> theirs) {
    if (ours >= 1e300) return;
    std::cout << fmt::format("{:<18}{:>12}{:>14}{:>9}\n", stage, fmt::format("{:.3f} s", ours),
                             theirs ? fmt::format("{:.3f} s", *theirs) : "-",
                             theirs ? fmt::format("{:.2f}x", *theirs / std::max(ours, 1e-9)) : "-");
  };
  auto ref = [&](size_t i) -> std::optional<double> {
    if (!reference) return std::nullopt;
    return (*reference)[i];
  };
  if (two_stage) {
    row("  backbone", best[0], ref(0));
    if (neck) row("  neck", best[1], ref(1));
    row("  rpn", best[2], ref(2));
    row("  roi head", best[3], ref(3));
    const auto ref_total = reference ? std::optional<double>((*reference)[0] + (*reference)[1] +
                                                             (*reference)[2] + (*reference)[3])
                                     : std::nullopt;
    row("total", best[0] + best[1] + best[2] + best[3], ref_total);
  } else if (split) {
    row("  backbone", best[0], ref(0));
    if (neck) row("  neck", best[1], ref(1));
    row("  head", best[2], ref(2));
    const auto ref_forward =
        reference ? std::optional<double>((*reference)[0] + (*reference)[1] + (*reference)[2])
                  : std::nullopt;
    row("forward", best[0] + best[1] + best[2], ref_forward);
    row("post-processing", best[3], ref(3));
  } else {
    row("predict (all)", best[0], std::nullopt);
  }
  std::cout << "weights: " << weights << "\n";
  std::cout << fmt::format("detections on the random image: {}", detections);
  if (reference_detections >= 0)
    std::cout << fmt::format(" (torchvision: {})", reference_detections);
  std::cout << "\n";
  if (two_stage) {
    // The RoI head's work grows with the proposals, which random weights make differ.
    std::cout << fmt::format("proposals: {}", proposal_count);
    if (reference_proposals >= 0)
      std::cout << fmt::format(" (torchvision: {})", reference_proposals);
    std::cout << "\n";
  }
  if (reference) {
    std::cout << "reference: torchvision's "
              << (two_stage ? "fasterrcnn_resnet50_fpn" : "retinanet_resnet50_fpn")
              << " on the same shape and threads, measured now (ratio > 1: detkit is faster)\n";
  } else {
    std::cout << "reference: " << why << "\n";
  }
  return 0;
}

}  // namespace detkit::cli
