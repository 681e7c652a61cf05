// Tests of the losses plugin, built through the registry as a user's config would build them:
//  - reference: values and pred gradients against PyTorch / torchvision, composed as MMDetection
//    2.25 composes them (tests/data/losses/reference.json, from tests/reference/gen_losses.py);
//  - behaviour: parameter validation and its messages, reduction_override, avg_factor with sum,
//    empty inputs, bad inputs, dtypes, MMDetection's defaults.
#include <gtest/gtest.h>
#include <simdjson.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "detkit/config_node.h"
#include "detkit/core/config.h"
#include "detkit/error.h"
#include "detkit/modeling/loss.h"
#include "detkit/registry.h"
#include "test_support.h"

namespace {

using detkit::ConfigNode;
using detkit::LossBase;
using detkit::Reduction;

// ---------------------------------------------------------------------------------------------
// Reading the reference file.

/// One case of tests/data/losses/reference.json.
struct ReferenceCase {
  std::string name;
  ConfigNode config;
  torch::Tensor pred, target, weight, grad_output, expected, pred_grad;
  std::optional<double> avg_factor;
  std::optional<Reduction> reduction_override;
};

/// A tensor stored as {"dtype": "float64"|"int64", "shape": [...], "data": [...]}.
torch::Tensor read_tensor(simdjson::dom::element element) {
  std::vector<int64_t> shape;
  for (int64_t d : element["shape"].get_array())
    shape.push_back(d);
  const std::string_view dtype = element["dtype"].get_string();
  const simdjson::dom::array data = element["data"].get_array();
  if (dtype == "int64") {
    std::vector<int64_t> values;
    for (int64_t v : data)
      values.push_back(v);
    return torch::tensor(values, torch::kLong).reshape(shape);
  }
  if (dtype != "float64") throw std::runtime_error("unknown dtype " + std::string(dtype));
  std::vector<double> values;
  for (simdjson::dom::element v : data)
    values.push_back(v.get_double());
  return torch::tensor(values, torch::kDouble).reshape(shape);
}

/// A JSON value as a config node (ints stay ints, floats stay floats).
ConfigNode read_config(simdjson::dom::element element) {
  switch (element.type()) {
    case simdjson::dom::element_type::OBJECT: {
      ConfigNode map = ConfigNode::make_map();
      for (auto field : element.get_object()) {
        map.set(std::string(field.key), read_config(field.value));
      }
      return map;
    }
    case simdjson::dom::element_type::ARRAY: {
      ConfigNode list = ConfigNode::make_list();
      for (simdjson::dom::element item : element.get_array())
        list.push_back(read_config(item));
      return list;
    }
    case simdjson::dom::element_type::INT64:
      return ConfigNode(int64_t(element.get_int64()));
    case simdjson::dom::element_type::DOUBLE:
      return ConfigNode(double(element.get_double()));
    case simdjson::dom::element_type::STRING:
      return ConfigNode(std::string(element.get_string().value()));
    case simdjson::dom::element_type::BOOL:
      return ConfigNode(bool(element.get_bool()));
    case simdjson::dom::element_type::NULL_VALUE:
      return ConfigNode();
    default:
      throw std::runtime_error("unsupported JSON value in a loss config");
  }
}

/// The reference cases, read once; `reference_error()` says why none could be read.
struct ReferenceFile {
  std::vector<ReferenceCase> cases;
  std::string error;
};

const ReferenceFile& reference_file() {
  static const ReferenceFile file = [] {
    ReferenceFile out;
    try {
      simdjson::dom::parser parser;
      const simdjson::dom::element root =
          parser.load(detkit::testing::data_path("losses/reference.json"));
      for (simdjson::dom::element item : root["cases"].get_array()) {
        ReferenceCase c;
        c.name = std::string(item["name"].get_string().value());
        c.config = read_config(item["config"]);
        c.pred = read_tensor(item["pred"]);
        c.target = read_tensor(item["target"]);
        c.expected = read_tensor(item["expected"]);
        c.pred_grad = read_tensor(item["pred_grad"]);
        simdjson::dom::element value;
        if (item["weight"].get(value) == simdjson::SUCCESS) c.weight = read_tensor(value);
        if (item["grad_output"].get(value) == simdjson::SUCCESS) c.grad_output = read_tensor(value);
        if (item["avg_factor"].get(value) == simdjson::SUCCESS) c.avg_factor = value.get_double();
        if (item["reduction_override"].get(value) == simdjson::SUCCESS) {
          c.reduction_override =
              detkit::reduction_from_string(std::string(value.get_string().value()));
        }
        out.cases.push_back(std::move(c));
      }
    } catch (const std::exception& e) {
      out.error = e.what();
      out.cases.clear();
    }
    return out;
  }();
  return file;
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/// Builds a loss from a config map through the registry, as `model.*.loss_*` would be built.
std::shared_ptr<LossBase> build_loss(const ConfigNode& cfg) {
  detkit::testing::load_in_tree_plugins();
  return detkit::build<LossBase>(cfg, "loss");
}

/// Builds a loss from YAML text (so errors carry a file location).
std::shared_ptr<LossBase> build_yaml(const std::string& yaml) {
  return build_loss(detkit::parse_yaml_text(yaml, "losses_test.yaml"));
}

/// The message of the detkit::Error that `fn` throws ("" if it throws none).
template <class Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const detkit::Error& e) {
    return e.what();
  }
  return "";
}

/// The message of the ConfigError that building `yaml` throws.
std::string config_error_of(const std::string& yaml) {
  detkit::testing::load_in_tree_plugins();
  try {
    build_yaml(yaml);
  } catch (const detkit::ConfigError& e) {
    return e.what();
  }
  return "";
}

/// Largest |a - b| (0 for empty tensors).
double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.numel() == 0) return 0.0;
  return (a.detach().to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

/// Expects |actual - expected| <= tol * (1 + |expected|) everywhere, with equal shapes.
void expect_close(const torch::Tensor& actual, const torch::Tensor& expected, double tol,
                  const std::string& what) {
  ASSERT_TRUE(actual.defined()) << what;
  ASSERT_EQ(actual.sizes(), expected.sizes()) << what;
  const torch::Tensor a = actual.detach().to(torch::kDouble);
  const torch::Tensor bound = tol * (1 + expected.abs());
  EXPECT_TRUE(((a - expected).abs() <= bound).all().item<bool>())
      << what << ": max |diff| = " << max_abs_diff(a, expected) << "\nactual:\n"
      << a << "\nexpected:\n"
      << expected;
}

// Float64 references let us compare far below the required 1e-6: at 1e-9 (relative to 1 + |x|)
// even eps-sized deviations from MMDetection (float32 eps in avg_factor, max(union, eps) in GIoU)
// would show, while double rounding (~1e-15) stays far away.
constexpr double kTolerance = 1e-9;

// ---------------------------------------------------------------------------------------------
// Reference tests.

const std::vector<std::string> kLossTypes = {"FocalLoss", "CrossEntropyLoss", "L1Loss",
                                             "SmoothL1Loss", "GIoULoss"};

TEST(LossReferenceFile, EveryCaseIsOfATestedLoss) {
  const ReferenceFile& file = reference_file();
  ASSERT_TRUE(file.error.empty()) << file.error;
  ASSERT_GE(file.cases.size(), 50u);
  for (const auto& c : file.cases) {
    const std::string type = c.config.at("type").as_string();
    EXPECT_NE(std::find(kLossTypes.begin(), kLossTypes.end(), type), kLossTypes.end())
        << c.name << ": " << type;
  }
}

/// Runs every reference case of loss `type` (built from the case's config through the
/// registry) and compares the value and the gradient of pred. One test per loss type rather than
/// per case: each ctest test is a process, and LibTorch processes are slow to start.
void check_reference_cases(const std::string& type) {
  const ReferenceFile& file = reference_file();
  ASSERT_TRUE(file.error.empty()) << file.error;
  int count = 0;
  for (const ReferenceCase& c : file.cases) {
    if (c.config.at("type").as_string() != type) continue;
    ++count;
    SCOPED_TRACE("reference case " + c.name);
    const auto loss = build_loss(c.config);
    const torch::Tensor pred = c.pred.clone().requires_grad_(true);
    const torch::Tensor out =
        loss->forward(pred, c.target, c.weight, c.avg_factor, c.reduction_override);
    EXPECT_EQ(out.scalar_type(), torch::kDouble);
    expect_close(out, c.expected, kTolerance, "value");
    ASSERT_TRUE(out.requires_grad());
    if (c.grad_output.defined()) {
      out.backward(c.grad_output);
    } else {
      out.backward();
    }
    expect_close(pred.grad(), c.pred_grad, kTolerance, "pred.grad");
    std::cout << "[ diff     ] " << c.name << ": value " << max_abs_diff(out, c.expected)
              << ", grad " << max_abs_diff(pred.grad(), c.pred_grad) << "\n";
  }
  EXPECT_GE(count, 5) << "too few reference cases for " << type;
}

TEST(LossReference, FocalLoss) {
  check_reference_cases("FocalLoss");
}
TEST(LossReference, CrossEntropyLoss) {
  check_reference_cases("CrossEntropyLoss");
}
TEST(LossReference, L1Loss) {
  check_reference_cases("L1Loss");
}
TEST(LossReference, SmoothL1Loss) {
  check_reference_cases("SmoothL1Loss");
}
TEST(LossReference, GIoULoss) {
  check_reference_cases("GIoULoss");
}

// ---------------------------------------------------------------------------------------------
// Registration and parameters.

TEST(LossesPlugin, RegistersTheFiveLossesWithMMDetectionDefaults) {
  detkit::testing::load_in_tree_plugins();
  const auto& registry = detkit::Registry::of(detkit::Kind::loss);
  struct Default {
    const char* type;
    const char* param;
    ConfigNode value;
  };
  const std::vector<Default> defaults = {
      {"FocalLoss", "use_sigmoid", true},
      {"FocalLoss", "gamma", 2.0},
      {"FocalLoss", "alpha", 0.25},
      {"FocalLoss", "reduction", "mean"},
      {"FocalLoss", "loss_weight", 1.0},
      {"FocalLoss", "activated", false},
      {"CrossEntropyLoss", "use_sigmoid", false},
      {"CrossEntropyLoss", "reduction", "mean"},
      {"CrossEntropyLoss", "class_weight", {}},
      {"CrossEntropyLoss", "ignore_index", {}},
      {"CrossEntropyLoss", "loss_weight", 1.0},
      {"CrossEntropyLoss", "avg_non_ignore", false},
      {"L1Loss", "reduction", "mean"},
      {"L1Loss", "loss_weight", 1.0},
      {"SmoothL1Loss", "beta", 1.0},
      {"SmoothL1Loss", "reduction", "mean"},
      {"SmoothL1Loss", "loss_weight", 1.0},
      {"GIoULoss", "eps", 1e-6},
      {"GIoULoss", "reduction", "mean"},
      {"GIoULoss", "loss_weight", 1.0},
  };
  for (const auto& d : defaults) {
    const detkit::ComponentInfo* info = registry.find(d.type);
    ASSERT_NE(info, nullptr) << d.type;
    EXPECT_NE(info->origin.find("libdetkit-losses"), std::string::npos) << info->origin;
    const detkit::ParamSpec* spec = info->schema.find(d.param);
    ASSERT_NE(spec, nullptr) << d.type << "." << d.param;
    EXPECT_FALSE(spec->required) << d.type << "." << d.param;
    EXPECT_EQ(spec->default_value, d.value)
        << d.type << "." << d.param << " = " << spec->default_value.to_flow();
    EXPECT_FALSE(spec->doc.empty()) << d.type << "." << d.param;
    if (std::string(d.param) == "reduction") {
      EXPECT_EQ(spec->choices, (std::vector<std::string>{"none", "mean", "sum"}));
    }
  }
  // Exactly MMDetection's parameters (minus use_mask): nothing undocumented slipped in.
  for (const std::string& type : kLossTypes) {
    size_t declared = 0;
    for (const auto& d : defaults) {
      declared += d.type == type;
    }
    EXPECT_EQ(registry.find(type)->schema.params().size(), declared) << type;
  }
}

TEST(LossesPlugin, BadReductionNamesTheChoices) {
  const std::string message = config_error_of("type: L1Loss\nreduction: average\n");
  EXPECT_NE(message.find("losses_test.yaml:2"), std::string::npos) << message;
  EXPECT_NE(message.find("loss.reduction"), std::string::npos) << message;
  EXPECT_NE(message.find("'average'"), std::string::npos) << message;
  EXPECT_NE(message.find("none|mean|sum"), std::string::npos) << message;
}

TEST(LossesPlugin, MisspelledParameterSuggestsTheRightOne) {
  const std::string message = config_error_of("type: FocalLoss\ngama: 1.5\n");
  EXPECT_NE(message.find("unknown parameter 'gama'"), std::string::npos) << message;
  EXPECT_NE(message.find("did you mean 'gamma'"), std::string::npos) << message;
}

TEST(LossesPlugin, FocalLossRejectsSoftmax) {
  const std::string message = config_error_of("type: FocalLoss\nuse_sigmoid: false\n");
  EXPECT_NE(message.find("losses_test.yaml:2"), std::string::npos) << message;
  EXPECT_NE(message.find("loss.use_sigmoid"), std::string::npos) << message;
  EXPECT_NE(message.find("only the sigmoid focal loss"), std::string::npos) << message;
}

TEST(LossesPlugin, FocalLossRangesAreChecked) {
  EXPECT_NE(config_error_of("type: FocalLoss\nalpha: 1.5\n").find("in [0, 1]"), std::string::npos);
  EXPECT_NE(config_error_of("type: FocalLoss\ngamma: -1\n").find("loss.gamma"), std::string::npos);
  EXPECT_EQ(config_error_of("type: FocalLoss\ngamma: 0\nalpha: 1\n"), "");
}

TEST(LossesPlugin, SmoothL1BetaMustBePositive) {
  for (const char* beta : {"0", "0.0", "-1.0"}) {
    const std::string message = config_error_of(std::string("type: SmoothL1Loss\nbeta: ") + beta);
    EXPECT_NE(message.find("loss.beta"), std::string::npos) << beta << ": " << message;
    EXPECT_NE(message.find("must be > 0"), std::string::npos) << beta << ": " << message;
  }
  EXPECT_EQ(config_error_of("type: SmoothL1Loss\nbeta: 0.001\n"), "");
}

TEST(LossesPlugin, CrossEntropyHasNoUseMask) {
  const std::string message = config_error_of("type: CrossEntropyLoss\nuse_mask: true\n");
  EXPECT_NE(message.find("unknown parameter 'use_mask'"), std::string::npos) << message;
}

TEST(LossesPlugin, CrossEntropyParameterTypesAreChecked) {
  EXPECT_NE(
      config_error_of("type: CrossEntropyLoss\nclass_weight: [1.0, -0.5]\n").find("class_weight"),
      std::string::npos);
  EXPECT_NE(config_error_of("type: CrossEntropyLoss\nignore_index: 2.5\n").find("ignore_index"),
            std::string::npos);
  EXPECT_EQ(config_error_of("type: CrossEntropyLoss\nclass_weight: [1, 0.5]\nignore_index: 255\n"),
            "");
}

// ---------------------------------------------------------------------------------------------
// Behaviour of the call.

/// Inputs that every loss accepts (class scores with labels, or boxes), float64.
struct Inputs {
  torch::Tensor pred, target;
};

Inputs inputs_for(const std::string& type, int64_t n = 6) {
  torch::manual_seed(7);
  if (type == "FocalLoss" || type == "CrossEntropyLoss") {
    return {torch::randn({n, 4}, torch::kDouble), torch::randint(0, 4, {n}, torch::kLong)};
  }
  if (type == "GIoULoss") {
    const torch::Tensor xy = torch::rand({n, 2}, torch::kDouble) * 20;
    const torch::Tensor boxes =
        torch::cat({xy, xy + 5 + torch::rand({n, 2}, torch::kDouble) * 10}, 1);
    return {boxes, boxes + torch::randn({n, 4}, torch::kDouble)};
  }
  return {torch::randn({n, 4}, torch::kDouble), torch::randn({n, 4}, torch::kDouble)};
}

TEST(LossesBehaviour, ReductionOverrideReplacesTheConfiguredReduction) {
  for (const auto& type : kLossTypes) {
    SCOPED_TRACE(type);
    const Inputs in = inputs_for(type);
    const auto configured_mean = build_yaml("{type: " + type + ", loss_weight: 2.0}");
    const auto configured_none =
        build_yaml("{type: " + type + ", reduction: none, loss_weight: 2.0}");
    const torch::Tensor none = configured_none->forward(in.pred, in.target);
    ASSERT_GT(none.dim(), 0);
    const torch::Tensor mean = configured_mean->forward(in.pred, in.target);
    EXPECT_EQ(mean.dim(), 0);
    expect_close(mean, none.mean(), 1e-12, "configured mean");
    expect_close(configured_mean->forward(in.pred, in.target, {}, std::nullopt, Reduction::none),
                 none, 1e-12, "override none");
    expect_close(configured_mean->forward(in.pred, in.target, {}, std::nullopt, Reduction::sum),
                 none.sum(), 1e-12, "override sum");
    expect_close(configured_none->forward(in.pred, in.target, {}, std::nullopt, Reduction::mean),
                 mean, 1e-12, "override mean");
    // avg_factor replaces the element count of the mean.
    expect_close(configured_mean->forward(in.pred, in.target, {}, 3.0), none.sum() / 3.0, 1e-6,
                 "avg_factor");
  }
}

TEST(LossesBehaviour, AvgFactorWithSumIsAnError) {
  for (const auto& type : kLossTypes) {
    SCOPED_TRACE(type);
    const Inputs in = inputs_for(type);
    const auto sum = build_yaml("{type: " + type + ", reduction: sum}");
    EXPECT_NE(error_of([&] { sum->forward(in.pred, in.target, {}, 4.0); }).find("avg_factor"),
              std::string::npos);
    const auto mean = build_yaml("{type: " + type + "}");
    EXPECT_NE(error_of([&] {
                mean->forward(in.pred, in.target, {}, 4.0, Reduction::sum);
              }).find("avg_factor can not be used with reduction=\"sum\""),
              std::string::npos);
    EXPECT_EQ(error_of([&] { mean->forward(in.pred, in.target, {}, 4.0); }), "");
  }
}

TEST(LossesBehaviour, FloatInputsGiveFloatLosses) {
  for (const auto& type : kLossTypes) {
    SCOPED_TRACE(type);
    const Inputs in = inputs_for(type);
    const auto loss = build_yaml("{type: " + type + ", reduction: none}");
    const torch::Tensor pred32 = in.pred.to(torch::kFloat).requires_grad_(true);
    const torch::Tensor target32 =
        in.target.is_floating_point() ? in.target.to(torch::kFloat) : in.target;
    const torch::Tensor out32 = loss->forward(pred32, target32);
    EXPECT_EQ(out32.scalar_type(), torch::kFloat);
    expect_close(out32, loss->forward(in.pred, in.target), 1e-5, "float32 vs float64");
    out32.sum().backward();
    EXPECT_EQ(pred32.grad().scalar_type(), torch::kFloat);
  }
}

TEST(LossesBehaviour, EmptyInputsGiveZeroWithGradient) {
  const torch::Tensor no_scores = torch::zeros({0, 4}, torch::kDouble);
  const torch::Tensor no_labels = torch::zeros({0}, torch::kLong);
  const torch::Tensor no_boxes = torch::zeros({0, 4}, torch::kDouble);
  struct EmptyCase {
    std::string yaml;
    torch::Tensor target, weight;
    std::optional<double> avg_factor;
  };
  const std::vector<EmptyCase> cases = {
      // MMDetection's l1_loss / smooth_l1_loss: an empty target is pred.sum() * 0, also for mean.
      {"{type: L1Loss}", no_boxes, {}, std::nullopt},
      {"{type: SmoothL1Loss, reduction: sum}", no_boxes, {}, std::nullopt},
      {"{type: SmoothL1Loss}", no_boxes, {}, 2.0},
      // Classification losses: sum, or mean with avg_factor (how heads call them).
      {"{type: FocalLoss}", no_labels, torch::zeros({0}, torch::kDouble), 1.0},
      {"{type: FocalLoss, reduction: sum}", no_labels, {}, std::nullopt},
      {"{type: CrossEntropyLoss}", no_labels, {}, 1.0},
      {"{type: CrossEntropyLoss, use_sigmoid: true, reduction: sum}", no_labels, {}, std::nullopt},
      // GIoULoss: an (empty, so) all-zero weight takes MMDetection's (pred * weight).sum().
      {"{type: GIoULoss}", no_boxes, torch::zeros({0}, torch::kDouble), std::nullopt},
      {"{type: GIoULoss, reduction: sum}", no_boxes, {}, std::nullopt},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.yaml);
    const auto loss = build_yaml(c.yaml);
    const torch::Tensor pred =
        (c.target.is_floating_point() ? no_boxes : no_scores).clone().requires_grad_(true);
    const torch::Tensor out = loss->forward(pred, c.target, c.weight, c.avg_factor);
    ASSERT_EQ(out.dim(), 0);
    EXPECT_EQ(out.item<double>(), 0.0);
    out.backward();
    ASSERT_TRUE(pred.grad().defined());
    EXPECT_EQ(pred.grad().sizes(), pred.sizes());
  }
  // As in MMDetection (torch's mean of nothing), the plain mean of an empty classification loss
  // is NaN; heads pass avg_factor instead.
  EXPECT_TRUE(std::isnan(
      build_yaml("{type: CrossEntropyLoss}")->forward(no_scores, no_labels).item<double>()));
}

TEST(LossesBehaviour, ZeroWeightGIoUIsZeroEvenForBadBoxes) {
  // MMDetection returns before computing any IoU when no weight is positive.
  const auto loss = build_yaml("{type: GIoULoss, loss_weight: 5.0}");
  const torch::Tensor pred = torch::tensor({{10.0, 10.0, 0.0, 0.0}}, torch::kDouble);
  const torch::Tensor out = loss->forward(pred, pred * 2, torch::zeros({1}, torch::kDouble));
  EXPECT_EQ(out.item<double>(), 0.0);
}

TEST(LossesBehaviour, FocalLossLabelsOutsideTheClassesAreErrors) {
  const auto loss = build_yaml("{type: FocalLoss}");
  const torch::Tensor pred = torch::randn({3, 4}, torch::kDouble);
  const std::string too_big = error_of([&] {
    loss->forward(pred, torch::tensor({0, 5, 1}, torch::kLong));
  });
  EXPECT_NE(too_big.find("FocalLoss: class labels must be in [0, num_classes] = [0, 4]"),
            std::string::npos)
      << too_big;
  EXPECT_NE(error_of([&] {
              loss->forward(pred, torch::tensor({0, -1, 1}, torch::kLong));
            }).find("got labels in [-1, 1]"),
            std::string::npos);
  // Background (== num_classes) is fine and only contributes negatives.
  const torch::Tensor background = loss->forward(pred, torch::tensor({4, 4, 4}, torch::kLong));
  const torch::Tensor zeros = loss->forward(pred, torch::zeros({3, 4}, torch::kDouble));
  expect_close(background, zeros, 1e-15, "background == all-zero one-hot");
  EXPECT_NE(error_of([&] {
              loss->forward(pred, torch::rand({3}, torch::kDouble));
            }).find("integer tensor"),
            std::string::npos);
}

TEST(LossesBehaviour, FocalLossWeightShapes) {
  const auto loss = build_yaml("{type: FocalLoss, reduction: none}");
  const torch::Tensor pred = torch::randn({3, 4}, torch::kDouble);
  const torch::Tensor labels = torch::tensor({0, 4, 2}, torch::kLong);
  const torch::Tensor unweighted = loss->forward(pred, labels);
  const torch::Tensor per_anchor = torch::tensor({0.5, 1.0, 2.0}, torch::kDouble);
  expect_close(loss->forward(pred, labels, per_anchor), unweighted * per_anchor.view({3, 1}), 1e-15,
               "(N,) weight");
  const torch::Tensor flat = torch::rand({12}, torch::kDouble);
  expect_close(loss->forward(pred, labels, flat), unweighted * flat.view({3, 4}), 1e-15,
               "(N*C,) weight");
  const std::string message =
      error_of([&] { loss->forward(pred, labels, torch::ones({5}, torch::kDouble)); });
  EXPECT_NE(message.find("FocalLoss: weight of shape [5]"), std::string::npos) << message;
}

TEST(LossesBehaviour, CrossEntropyInputErrors) {
  const torch::Tensor pred = torch::randn({3, 4}, torch::kDouble);
  const auto softmax = build_yaml("{type: CrossEntropyLoss}");
  EXPECT_NE(error_of([&] {
              softmax->forward(pred, torch::tensor({0, 4, 1}, torch::kLong));
            }).find("label 4 is outside [0, 4)"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              softmax->forward(pred, torch::rand({3}, torch::kDouble));
            }).find("integer class labels of shape [3]"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              softmax->forward(pred, torch::tensor({0, 1, 1}, torch::kLong),
                               torch::ones({2}, torch::kDouble));
            }).find("weight of shape [2]"),
            std::string::npos);
  const auto weighted = build_yaml("{type: CrossEntropyLoss, class_weight: [1.0, 2.0]}");
  EXPECT_NE(error_of([&] {
              weighted->forward(pred, torch::tensor({0, 1, 1}, torch::kLong));
            }).find("class_weight has 2 values but pred has 4 classes"),
            std::string::npos);
  const auto sigmoid =
      build_yaml("{type: CrossEntropyLoss, use_sigmoid: true, class_weight: [1.0, 2.0]}");
  EXPECT_NE(error_of([&] {
              sigmoid->forward(pred, torch::tensor({0, 1, 1}, torch::kLong));
            }).find("class_weight has 2 values but pred has 4 classes"),
            std::string::npos);
}

TEST(LossesBehaviour, CrossEntropyIgnoredLabelsDoNotContribute) {
  // Softmax and sigmoid: changing the scores of an ignored sample changes neither the loss nor
  // the other samples' gradients, and its own gradient is zero.
  for (const char* yaml : {"{type: CrossEntropyLoss, ignore_index: 255, reduction: sum}",
                           "{type: CrossEntropyLoss, use_sigmoid: true, ignore_index: 255, "
                           "reduction: sum}"}) {
    SCOPED_TRACE(yaml);
    const auto loss = build_yaml(yaml);
    const torch::Tensor labels = torch::tensor({1, 255, 3}, torch::kLong);
    const torch::Tensor pred = torch::randn({3, 4}, torch::kDouble).requires_grad_(true);
    const torch::Tensor out = loss->forward(pred, labels);
    out.backward();
    EXPECT_EQ(pred.grad()[1].abs().sum().item<double>(), 0.0);
    torch::Tensor other = pred.detach().clone();
    other[1] += 10;
    EXPECT_EQ(loss->forward(other, labels).item<double>(), out.item<double>());
  }
}

TEST(LossesBehaviour, RegressionInputErrors) {
  const auto l1 = build_yaml("{type: L1Loss}");
  EXPECT_NE(
      error_of([&] {
        l1->forward(torch::zeros({3, 4}, torch::kDouble), torch::zeros({2, 4}, torch::kDouble));
      }).find("L1Loss: pred and target must have the same shape, got [3, 4] and [2, 4]"),
      std::string::npos);
  const auto giou = build_yaml("{type: GIoULoss}");
  EXPECT_NE(
      error_of([&] {
        giou->forward(torch::zeros({3, 5}, torch::kDouble), torch::zeros({3, 5}, torch::kDouble));
      }).find("GIoULoss: pred must hold boxes (..., 4)"),
      std::string::npos);
  EXPECT_NE(error_of([&] {
              giou->forward(torch::ones({3, 4}, torch::kDouble),
                            torch::ones({3, 4}, torch::kDouble),
                            torch::ones({3, 2}, torch::kDouble));
            }).find("must have pred's shape"),
            std::string::npos);
}

}  // namespace
