// MMCV's weight initializers, registered as `initializer` components: Constant, Xavier,
// Normal, TruncNormal, Uniform, Kaiming (MMCV's defaults: fan_out, relu, normal) and
// Caffe2Xavier. Defaults keep MMCV's int/float types, because the init log prints them
// ("KaimingInit: a=0, ...", "UniformInit: a=0.0, b=1.0, ...").
#include <memory>
#include <string>

#include "detkit/modeling/init.h"
#include "detkit/modeling/initializer.h"
#include "detkit/registry.h"

namespace detkit::initializers {

namespace {

/// A number parameter whose default keeps its int/float type (null default: required).
ParamSpec number(const char* name, ConfigNode default_value, const char* doc) {
  ParamSpec spec;
  spec.name = name;
  spec.type = ParamType::real;
  spec.required = default_value.is_null();
  spec.default_value = std::move(default_value);
  spec.doc = doc;
  return spec;
}

/// A string parameter limited to `choices`.
ParamSpec choice(const char* name, const char* default_value, std::vector<std::string> choices,
                 const char* doc) {
  ParamSpec spec;
  spec.name = name;
  spec.type = ParamType::string;
  spec.default_value = ConfigNode(default_value);
  spec.choices = std::move(choices);
  spec.doc = doc;
  return spec;
}

const std::vector<std::string> kDistributions = {"normal", "uniform"};
const std::vector<std::string> kModes = {"fan_in", "fan_out"};
const std::vector<std::string> kNonlinearities = {
    "linear",           "conv1d",  "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
    "conv_transpose3d", "sigmoid", "tanh",   "relu",   "leaky_relu",       "selu"};

}  // namespace

/// Constant: weight = val.
class ConstantInit : public BaseInit {
 public:
  explicit ConstantInit(const ComponentConfig& cfg)
      : BaseInit(cfg), val_(InitNumber::from(cfg.node("val"))) {}
  static Schema schema() {
    Schema s = common_schema("Fill weights with a constant (MMCV ConstantInit).");
    s.add_spec(number("val", ConfigNode(), "the weight value"));
    return s;
  }
  static std::shared_ptr<ConstantInit> create(const ComponentConfig& cfg) {
    return std::make_shared<ConstantInit>(cfg);
  }
  void init_module(torch::nn::Module& m) override { constant_init(m, val_.value, bias_.value); }
  std::string record() const override {
    return "ConstantInit: val=" + val_.str() + ", bias=" + bias_.str();
  }

 private:
  InitNumber val_;
};
DETKIT_REGISTER_AS(initializer, ConstantInit, "Constant");

/// Xavier: Glorot normal or uniform weights scaled by gain.
class XavierInit : public BaseInit {
 public:
  explicit XavierInit(const ComponentConfig& cfg)
      : BaseInit(cfg),
        gain_(InitNumber::from(cfg.node("gain"))),
        distribution_(cfg.get<std::string>("distribution")) {}
  static Schema schema() {
    Schema s = common_schema("Xavier (Glorot) weights (MMCV XavierInit).");
    s.add_spec(number("gain", ConfigNode(1), "scaling factor"));
    s.add_spec(choice("distribution", "normal", kDistributions, "normal or uniform"));
    return s;
  }
  static std::shared_ptr<XavierInit> create(const ComponentConfig& cfg) {
    return std::make_shared<XavierInit>(cfg);
  }
  void init_module(torch::nn::Module& m) override {
    xavier_init(m, gain_.value, bias_.value, distribution_);
  }
  std::string record() const override {
    return "XavierInit: gain=" + gain_.str() + ", distribution=" + distribution_ +
           ", bias=" + bias_.str();
  }

 private:
  InitNumber gain_;
  std::string distribution_;
};
DETKIT_REGISTER_AS(initializer, XavierInit, "Xavier");

/// Normal: weights from N(mean, std^2).
class NormalInit : public BaseInit {
 public:
  explicit NormalInit(const ComponentConfig& cfg)
      : BaseInit(cfg),
        mean_(InitNumber::from(cfg.node("mean"))),
        std_(InitNumber::from(cfg.node("std"))) {}
  static Schema schema() {
    Schema s = common_schema("Normally distributed weights (MMCV NormalInit).");
    s.add_spec(number("mean", ConfigNode(0), "mean of the normal distribution"));
    s.add_spec(number("std", ConfigNode(1), "standard deviation"));
    s.last_param().min(0);
    return s;
  }
  static std::shared_ptr<NormalInit> create(const ComponentConfig& cfg) {
    return std::make_shared<NormalInit>(cfg);
  }
  void init_module(torch::nn::Module& m) override {
    normal_init(m, mean_.value, std_.value, bias_.value);
  }
  std::string record() const override {
    return "NormalInit: mean=" + mean_.str() + ", std=" + std_.str() + ", bias=" + bias_.str();
  }

 private:
  InitNumber mean_, std_;
};
DETKIT_REGISTER_AS(initializer, NormalInit, "Normal");

/// TruncNormal: weights from N(mean, std^2) truncated to [a, b].
class TruncNormalInit : public BaseInit {
 public:
  explicit TruncNormalInit(const ComponentConfig& cfg)
      : BaseInit(cfg),
        mean_(InitNumber::from(cfg.node("mean"))),
        std_(InitNumber::from(cfg.node("std"))),
        a_(InitNumber::from(cfg.node("a"))),
        b_(InitNumber::from(cfg.node("b"))) {
    if (!(a_.value < b_.value)) cfg.fail("b", "b must be greater than a");
  }
  static Schema schema() {
    Schema s = common_schema("Truncated normal weights (MMCV TruncNormalInit).");
    s.add_spec(number("mean", ConfigNode(0), "mean of the normal distribution"));
    s.add_spec(number("std", ConfigNode(1), "standard deviation"));
    s.last_param().greater_than(0);
    s.add_spec(number("a", ConfigNode(-2), "lower cutoff"));
    s.add_spec(number("b", ConfigNode(2), "upper cutoff"));
    return s;
  }
  static std::shared_ptr<TruncNormalInit> create(const ComponentConfig& cfg) {
    return std::make_shared<TruncNormalInit>(cfg);
  }
  void init_module(torch::nn::Module& m) override {
    trunc_normal_init(m, mean_.value, std_.value, a_.value, b_.value, bias_.value);
  }
  std::string record() const override {
    return "TruncNormalInit: a=" + a_.str() + ", b=" + b_.str() + ", mean=" + mean_.str() +
           ", std=" + std_.str() + ", bias=" + bias_.str();
  }

 private:
  InitNumber mean_, std_, a_, b_;
};
DETKIT_REGISTER_AS(initializer, TruncNormalInit, "TruncNormal");

/// Uniform: weights from U(a, b).
class UniformInit : public BaseInit {
 public:
  explicit UniformInit(const ComponentConfig& cfg)
      : BaseInit(cfg), a_(InitNumber::from(cfg.node("a"))), b_(InitNumber::from(cfg.node("b"))) {}
  static Schema schema() {
    Schema s = common_schema("Uniformly distributed weights (MMCV UniformInit).");
    s.add_spec(number("a", ConfigNode(0.0), "lower bound"));
    s.add_spec(number("b", ConfigNode(1.0), "upper bound"));
    return s;
  }
  static std::shared_ptr<UniformInit> create(const ComponentConfig& cfg) {
    return std::make_shared<UniformInit>(cfg);
  }
  void init_module(torch::nn::Module& m) override {
    uniform_init(m, a_.value, b_.value, bias_.value);
  }
  std::string record() const override {
    return "UniformInit: a=" + a_.str() + ", b=" + b_.str() + ", bias=" + bias_.str();
  }

 private:
  InitNumber a_, b_;
};
DETKIT_REGISTER_AS(initializer, UniformInit, "Uniform");

/// Kaiming: He initialisation with MMCV's defaults (fan_out, relu, normal).
class KaimingInit : public BaseInit {
 public:
  explicit KaimingInit(const ComponentConfig& cfg)
      : KaimingInit(cfg, InitNumber::from(cfg.node("a")), cfg.get<std::string>("mode"),
                    cfg.get<std::string>("nonlinearity"), cfg.get<std::string>("distribution"),
                    "KaimingInit") {}
  static Schema schema() {
    Schema s = common_schema(
        "Kaiming (He) weights with MMCV's defaults: fan_out, relu, normal (MMCV KaimingInit).");
    s.add_spec(number("a", ConfigNode(0), "negative slope of the rectifier (leaky_relu)"));
    s.add_spec(choice("mode", "fan_out", kModes, "fan_in or fan_out"));
    s.add_spec(choice("nonlinearity", "relu", kNonlinearities,
                      "the nonlinearity after the layer (nn.functional name)"));
    s.add_spec(choice("distribution", "normal", kDistributions, "normal or uniform"));
    return s;
  }
  static std::shared_ptr<KaimingInit> create(const ComponentConfig& cfg) {
    return std::make_shared<KaimingInit>(cfg);
  }
  void init_module(torch::nn::Module& m) override {
    kaiming_init(m, a_.value, mode_, nonlinearity_, bias_.value, distribution_);
  }
  std::string record() const override {
    return name_ + ": a=" + a_.str() + ", mode=" + mode_ + ", nonlinearity=" + nonlinearity_ +
           ", distribution =" + distribution_ + ", bias=" + bias_.str();
  }

 protected:
  KaimingInit(const ComponentConfig& cfg, InitNumber a, std::string mode, std::string nonlinearity,
              std::string distribution, std::string name)
      : BaseInit(cfg),
        a_(a),
        mode_(std::move(mode)),
        nonlinearity_(std::move(nonlinearity)),
        distribution_(std::move(distribution)),
        name_(std::move(name)) {}

 private:
  InitNumber a_;
  std::string mode_, nonlinearity_, distribution_, name_;
};
DETKIT_REGISTER_AS(initializer, KaimingInit, "Kaiming");

/// Caffe2Xavier: Caffe2's XavierFill, i.e. Kaiming with a=1, fan_in, leaky_relu, uniform.
class Caffe2XavierInit : public KaimingInit {
 public:
  explicit Caffe2XavierInit(const ComponentConfig& cfg)
      : KaimingInit(cfg, InitNumber(1), "fan_in", "leaky_relu", "uniform", "Caffe2XavierInit") {}
  static Schema schema() {
    return common_schema(
        "Caffe2's XavierFill: Kaiming uniform with a=1, fan_in, leaky_relu (MMCV "
        "Caffe2XavierInit).");
  }
  static std::shared_ptr<Caffe2XavierInit> create(const ComponentConfig& cfg) {
    return std::make_shared<Caffe2XavierInit>(cfg);
  }
};
DETKIT_REGISTER_AS(initializer, Caffe2XavierInit, "Caffe2Xavier");

}  // namespace detkit::initializers
