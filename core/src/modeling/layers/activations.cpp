// The activation layers of MMCV's ACTIVATION_LAYERS: ReLU, LeakyReLU, PReLU, ReLU6, ELU,
// Sigmoid, Tanh, GELU, SiLU, Clamp (also as "Clip"), and MMCV's HSigmoid, HSwish and Swish.
// Each is one traits struct (schema, MMCV class name, the function) over a common module; PReLU
// registers its `weight` parameter as nn.PReLU does.
#include <torch/torch.h>

#include <functional>
#include <string>

#include "detkit/modeling/layers.h"
#include "detkit/registry.h"
#include "layer_utils.h"

namespace detkit::layers {

namespace {

using Fn = std::function<torch::Tensor(const torch::Tensor&)>;

/// An activation described by Traits: `name` (MMCV class name), `schema()`, and `make(cfg,
/// module)` returning the function (it may register parameters on `module`).
template <class Traits>
class Activation : public ActivationLayerBase {
 public:
  static Schema schema() { return Traits::schema(); }
  static std::shared_ptr<Activation> create(const ComponentConfig& cfg) {
    return std::make_shared<Activation>(cfg);
  }
  explicit Activation(const ComponentConfig& cfg) : values_(cfg.values()) {
    fn_ = Traits::make(cfg, *this);
  }
  torch::Tensor forward(const torch::Tensor& input) override { return fn_(input); }
  std::string mmcv_class_name() const override { return Traits::name; }
  std::vector<std::string> mmcv_base_names() const override { return {"Module"}; }
  void pretty_print(std::ostream& stream) const override {
    stream << Traits::name << "(";
    bool first = true;
    for (const auto& entry : values_.entries()) {
      if (entry.key == "init_cfg") continue;
      stream << (first ? "" : ", ") << entry.key << "=" << entry.value.to_flow();
      first = false;
    }
    stream << ")";
  }

 private:
  ConfigNode values_;
  Fn fn_;
};

Schema with_inplace(Schema s) {
  s.add<bool>("inplace", false, "overwrite the input tensor");
  return s;
}

struct ReLUTraits {
  static constexpr const char* name = "ReLU";
  static Schema schema() { return with_inplace(Schema("max(0, x) (nn.ReLU).")); }
  static Fn make(const ComponentConfig& cfg, torch::nn::Module&) {
    if (cfg.get<bool>("inplace"))
      return [](const torch::Tensor& x) {
        torch::Tensor y = x;
        return torch::relu_(y);
      };
    return [](const torch::Tensor& x) { return torch::relu(x); };
  }
};

struct LeakyReLUTraits {
  static constexpr const char* name = "LeakyReLU";
  static Schema schema() {
    Schema s("x for x >= 0, negative_slope * x otherwise (nn.LeakyReLU).");
    s.add<double>("negative_slope", 0.01, "slope for negative inputs");
    return with_inplace(std::move(s));
  }
  static Fn make(const ComponentConfig& cfg, torch::nn::Module&) {
    const double slope = cfg.get<double>("negative_slope");
    if (cfg.get<bool>("inplace")) {
      return [slope](const torch::Tensor& x) {
        torch::Tensor y = x;
        return torch::leaky_relu_(y, slope);
      };
    }
    return [slope](const torch::Tensor& x) { return torch::leaky_relu(x, slope); };
  }
};

struct PReLUTraits {
  static constexpr const char* name = "PReLU";
  static Schema schema() {
    Schema s("Leaky ReLU with a learned slope (nn.PReLU; parameter `weight`).");
    s.add<int64_t>("num_parameters", 1, "1, or the number of channels").min(1);
    s.add<double>("init", 0.25, "initial slope");
    return s;
  }
  static Fn make(const ComponentConfig& cfg, torch::nn::Module& self) {
    torch::Tensor weight = self.register_parameter(
        "weight", torch::full({cfg.get<int64_t>("num_parameters")}, cfg.get<double>("init")));
    return [weight](const torch::Tensor& x) { return torch::prelu(x, weight); };
  }
};

struct ReLU6Traits {
  static constexpr const char* name = "ReLU6";
  static Schema schema() { return with_inplace(Schema("min(max(0, x), 6) (nn.ReLU6).")); }
  static Fn make(const ComponentConfig& cfg, torch::nn::Module&) {
    if (cfg.get<bool>("inplace")) {
      return [](const torch::Tensor& x) {
        torch::Tensor y = x;
        return torch::hardtanh_(y, 0, 6);
      };
    }
    return [](const torch::Tensor& x) { return torch::hardtanh(x, 0, 6); };
  }
};

struct ELUTraits {
  static constexpr const char* name = "ELU";
  static Schema schema() {
    Schema s("x for x > 0, alpha * (exp(x) - 1) otherwise (nn.ELU).");
    s.add<double>("alpha", 1.0, "scale of the negative part");
    return with_inplace(std::move(s));
  }
  static Fn make(const ComponentConfig& cfg, torch::nn::Module&) {
    const double alpha = cfg.get<double>("alpha");
    if (cfg.get<bool>("inplace")) {
      return [alpha](const torch::Tensor& x) {
        torch::Tensor y = x;
        return torch::elu_(y, alpha);
      };
    }
    return [alpha](const torch::Tensor& x) { return torch::elu(x, alpha); };
  }
};

struct SigmoidTraits {
  static constexpr const char* name = "Sigmoid";
  static Schema schema() { return Schema("1 / (1 + exp(-x)) (nn.Sigmoid)."); }
  static Fn make(const ComponentConfig&, torch::nn::Module&) {
    return [](const torch::Tensor& x) { return torch::sigmoid(x); };
  }
};

struct TanhTraits {
  static constexpr const char* name = "Tanh";
  static Schema schema() { return Schema("tanh(x) (nn.Tanh)."); }
  static Fn make(const ComponentConfig&, torch::nn::Module&) {
    return [](const torch::Tensor& x) { return torch::tanh(x); };
  }
};

struct GELUTraits {
  static constexpr const char* name = "GELU";
  static Schema schema() {
    Schema s("x * Phi(x) (nn.GELU).");
    s.add<std::string>("approximate", "none", "none or tanh").choices({"none", "tanh"});
    return s;
  }
  static Fn make(const ComponentConfig& cfg, torch::nn::Module&) {
    const std::string approximate = cfg.get<std::string>("approximate");
    return [approximate](const torch::Tensor& x) { return torch::gelu(x, approximate); };
  }
};

struct SiLUTraits {
  static constexpr const char* name = "SiLU";
  static Schema schema() { return with_inplace(Schema("x * sigmoid(x) (nn.SiLU).")); }
  static Fn make(const ComponentConfig& cfg, torch::nn::Module&) {
    if (cfg.get<bool>("inplace"))
      return [](const torch::Tensor& x) {
        torch::Tensor y = x;
        return torch::silu_(y);
      };
    return [](const torch::Tensor& x) { return torch::silu(x); };
  }
};

struct ClampTraits {
  static constexpr const char* name = "Clamp";
  static Schema schema() {
    Schema s("clamp(x, min, max) (MMCV Clamp, also registered as Clip).");
    s.add<double>("min", -1.0, "lower bound");
    s.add<double>("max", 1.0, "upper bound");
    return s;
  }
  static Fn make(const ComponentConfig& cfg, torch::nn::Module&) {
    const double lo = cfg.get<double>("min"), hi = cfg.get<double>("max");
    if (lo > hi) cfg.fail("max", "max must not be less than min");
    return [lo, hi](const torch::Tensor& x) { return torch::clamp(x, lo, hi); };
  }
};

struct HSigmoidTraits {
  static constexpr const char* name = "HSigmoid";
  static Schema schema() {
    Schema s("clamp((x + bias) / divisor, min_value, max_value) (MMCV HSigmoid).");
    s.add<double>("bias", 3.0, "added to the input");
    s.add<double>("divisor", 6.0, "divides the input").greater_than(0);
    s.add<double>("min_value", 0.0, "lower bound");
    s.add<double>("max_value", 1.0, "upper bound");
    return s;
  }
  static Fn make(const ComponentConfig& cfg, torch::nn::Module&) {
    const double bias = cfg.get<double>("bias"), divisor = cfg.get<double>("divisor");
    const double lo = cfg.get<double>("min_value"), hi = cfg.get<double>("max_value");
    return [=](const torch::Tensor& x) { return torch::clamp((x + bias) / divisor, lo, hi); };
  }
};

struct HSwishTraits {
  static constexpr const char* name = "HSwish";
  static Schema schema() { return with_inplace(Schema("x * relu6(x + 3) / 6 (MMCV HSwish).")); }
  static Fn make(const ComponentConfig&, torch::nn::Module&) {
    return [](const torch::Tensor& x) { return x * torch::hardtanh(x + 3, 0, 6) / 6; };
  }
};

struct SwishTraits {
  static constexpr const char* name = "Swish";
  static Schema schema() { return Schema("x * sigmoid(x) (MMCV Swish)."); }
  static Fn make(const ComponentConfig&, torch::nn::Module&) {
    return [](const torch::Tensor& x) { return x * torch::sigmoid(x); };
  }
};

using ReLULayer = Activation<ReLUTraits>;
using LeakyReLULayer = Activation<LeakyReLUTraits>;
using PReLULayer = Activation<PReLUTraits>;
using ReLU6Layer = Activation<ReLU6Traits>;
using ELULayer = Activation<ELUTraits>;
using SigmoidLayer = Activation<SigmoidTraits>;
using TanhLayer = Activation<TanhTraits>;
using GELULayer = Activation<GELUTraits>;
using SiLULayer = Activation<SiLUTraits>;
using ClampLayer = Activation<ClampTraits>;
using HSigmoidLayer = Activation<HSigmoidTraits>;
using HSwishLayer = Activation<HSwishTraits>;
using SwishLayer = Activation<SwishTraits>;

}  // namespace

DETKIT_REGISTER_AS(activation_layer, ReLULayer, "ReLU");
DETKIT_REGISTER_AS(activation_layer, LeakyReLULayer, "LeakyReLU");
DETKIT_REGISTER_AS(activation_layer, PReLULayer, "PReLU");
DETKIT_REGISTER_AS(activation_layer, ReLU6Layer, "ReLU6");
DETKIT_REGISTER_AS(activation_layer, ELULayer, "ELU");
DETKIT_REGISTER_AS(activation_layer, SigmoidLayer, "Sigmoid");
DETKIT_REGISTER_AS(activation_layer, TanhLayer, "Tanh");
DETKIT_REGISTER_AS(activation_layer, GELULayer, "GELU");
DETKIT_REGISTER_AS(activation_layer, SiLULayer, "SiLU");
DETKIT_REGISTER_AS(activation_layer, ClampLayer, "Clamp");
DETKIT_REGISTER_AS(activation_layer, ClampLayer, "Clip");
DETKIT_REGISTER_AS(activation_layer, HSigmoidLayer, "HSigmoid");
DETKIT_REGISTER_AS(activation_layer, HSwishLayer, "HSwish");
DETKIT_REGISTER_AS(activation_layer, SwishLayer, "Swish");

}  // namespace detkit::layers
