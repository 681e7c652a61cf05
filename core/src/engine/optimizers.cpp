// The built-in optimizers (kind `optimizer`): SGD, Adam and AdamW, LibTorch's implementations of
// PyTorch's algorithms with PyTorch's defaults and argument checks, one parameter group per
// ParamGroup of the build context (per-group lr / weight_decay from paramwise_cfg). Their state
// is saved in PyTorch's optimizer.state_dict() layout (see detkit/core/optimizers.h).
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "detkit/build_context.h"
#include "detkit/core/optimizers.h"
#include "detkit/error.h"
#include "detkit/registry.h"

namespace detkit {

SerializableOptimizer::~SerializableOptimizer() = default;

namespace {

/// The keys every optimizer config may carry for build_optimizer (popped before building).
void add_builder_keys(Schema& s) {
  s.add<std::string>("constructor", "DefaultOptimizerConstructor",
                     "optimizer constructor (kind optimizer_constructor) that makes the groups");
  s.dict("paramwise_cfg", ConfigNode(), "per-parameter lr / decay multipliers (MMCV)");
}

/// A str-keyed dict for the checkpoint.
using GenericDict = c10::impl::GenericDict;

GenericDict new_dict() {
  return GenericDict(c10::StringType::get(), c10::AnyType::get());
}

/// A Python float, int or bool as a double; throws Error naming `what` for anything else.
double as_number(const c10::IValue& v, const std::string& what) {
  if (v.isDouble()) return v.toDouble();
  if (v.isInt()) return static_cast<double>(v.toInt());
  if (v.isBool()) return v.toBool() ? 1.0 : 0.0;
  throw Error(what + " is not a number (" + v.tagKind() + ")");
}

/// `dict[key]` as a double (ints and bools accepted); throws Error naming the key.
double number_at(const GenericDict& dict, const std::string& key, const std::string& what) {
  auto it = dict.find(key);
  if (it == dict.end()) throw Error(what + " has no '" + key + "'");
  return as_number(it->value(), what + ": '" + key + "'");
}

/// The tensor `dict[key]` (undefined when absent or None), checked against `like`'s shape.
torch::Tensor tensor_at(const GenericDict& dict, const std::string& key, const torch::Tensor& like,
                        const std::string& what) {
  auto it = dict.find(key);
  if (it == dict.end() || it->value().isNone()) return {};
  if (!it->value().isTensor()) throw Error(what + ": '" + key + "' is not a tensor");
  torch::Tensor t = it->value().toTensor();
  if (t.sizes() != like.sizes()) {
    throw Error(what + ": '" + key + "' has shape " + c10::str(t.sizes()) + ", the parameter has " +
                c10::str(like.sizes()));
  }
  return t.to(like.options()).clone();
}

/// What differs between SGD, Adam and AdamW.
struct SGDTraits {
  using Optimizer = torch::optim::SGD;
  using Options = torch::optim::SGDOptions;
  using State = torch::optim::SGDParamState;
  static constexpr const char* name = "SGD";
  static Schema schema() {
    Schema s("Stochastic gradient descent (torch.optim.SGD), momentum and Nesterov optional.");
    s.required<double>("lr", "learning rate").min(0);
    s.add<double>("momentum", 0.0, "momentum factor").min(0);
    s.add<double>("dampening", 0.0, "dampening for momentum");
    s.add<double>("weight_decay", 0.0, "L2 penalty").min(0);
    s.add<bool>("nesterov", false, "Nesterov momentum (needs momentum > 0, dampening 0)");
    add_builder_keys(s);
    return s;
  }
  static Options options(const ComponentConfig& cfg) {
    Options o(cfg.get<double>("lr"));
    o.momentum(cfg.get<double>("momentum"))
        .dampening(cfg.get<double>("dampening"))
        .weight_decay(cfg.get<double>("weight_decay"))
        .nesterov(cfg.get<bool>("nesterov"));
    if (o.nesterov() && (o.momentum() <= 0 || o.dampening() != 0)) {
      cfg.fail("nesterov", "Nesterov momentum requires a momentum and zero dampening");
    }
    return o;
  }
  static double momentum(const Options& o) { return o.momentum(); }
  static void set_momentum(Options& o, double v) { o.momentum(v); }
  static void describe(const Options& o, GenericDict& group) {
    group.insert("lr", o.lr());
    group.insert("momentum", o.momentum());
    group.insert("dampening", o.dampening());
    group.insert("weight_decay", o.weight_decay());
    group.insert("nesterov", o.nesterov());
    group.insert("maximize", false);
    group.insert("foreach", c10::IValue());
    group.insert("differentiable", false);
  }
  static void restore(Options& o, const GenericDict& group, const std::string& what) {
    o.lr(number_at(group, "lr", what));
    o.momentum(number_at(group, "momentum", what));
    o.dampening(number_at(group, "dampening", what));
    o.weight_decay(number_at(group, "weight_decay", what));
    o.nesterov(number_at(group, "nesterov", what) != 0);
  }
  static GenericDict save_state(const State& s) {
    GenericDict d = new_dict();
    d.insert("momentum_buffer",
             s.momentum_buffer().defined() ? c10::IValue(s.momentum_buffer()) : c10::IValue());
    return d;
  }
  static std::unique_ptr<State> load_state(const GenericDict& d, const torch::Tensor& param,
                                           const std::string& what) {
    auto s = std::make_unique<State>();
    s->momentum_buffer(tensor_at(d, "momentum_buffer", param, what));
    if (!s->momentum_buffer().defined()) return nullptr;
    return s;
  }
};

/// Adam and AdamW share everything but the name, defaults and decoupled weight decay.
template <class Opt, class Opts, class St, bool Decoupled>
struct AdamFamilyTraits {
  using Optimizer = Opt;
  using Options = Opts;
  using State = St;
  static constexpr const char* name = Decoupled ? "AdamW" : "Adam";
  static Schema schema() {
    Schema s(Decoupled ? "Adam with decoupled weight decay (torch.optim.AdamW)."
                       : "Adam (torch.optim.Adam).");
    s.add<double>("lr", 1e-3, "learning rate").min(0);
    s.add<std::vector<double>>("betas", std::vector<double>{0.9, 0.999},
                               "coefficients of the running averages of the gradient and its "
                               "square (beta1 plays momentum for momentum policies)");
    s.add<double>("eps", 1e-8, "added to the denominator").min(0);
    s.add<double>("weight_decay", Decoupled ? 1e-2 : 0.0,
                  Decoupled ? "decoupled weight decay" : "L2 penalty")
        .min(0);
    s.add<bool>("amsgrad", false, "the AMSGrad variant");
    add_builder_keys(s);
    return s;
  }
  static Options options(const ComponentConfig& cfg) {
    const auto betas = cfg.get<std::vector<double>>("betas");
    if (betas.size() != 2) cfg.fail("betas", "betas must be two numbers [beta1, beta2]");
    for (size_t i = 0; i < 2; ++i) {
      if (!(betas[i] >= 0.0 && betas[i] < 1.0)) {
        cfg.fail("betas", "Invalid beta parameter at index " + std::to_string(i) + ": " +
                              std::to_string(betas[i]) + " (must be in [0, 1))");
      }
    }
    Options o(cfg.get<double>("lr"));
    o.betas(std::make_tuple(betas[0], betas[1]))
        .eps(cfg.get<double>("eps"))
        .weight_decay(cfg.get<double>("weight_decay"))
        .amsgrad(cfg.get<bool>("amsgrad"));
    return o;
  }
  static double momentum(const Options& o) { return std::get<0>(o.betas()); }
  static void set_momentum(Options& o, double v) {
    o.betas(std::make_tuple(v, std::get<1>(o.betas())));
  }
  static void describe(const Options& o, GenericDict& group) {
    group.insert("lr", o.lr());
    group.insert("betas",
                 c10::ivalue::Tuple::create({std::get<0>(o.betas()), std::get<1>(o.betas())}));
    group.insert("eps", o.eps());
    group.insert("weight_decay", o.weight_decay());
    group.insert("amsgrad", o.amsgrad());
    group.insert("maximize", false);
    group.insert("foreach", c10::IValue());
    group.insert("capturable", false);
    group.insert("differentiable", false);
  }
  static void restore(Options& o, const GenericDict& group, const std::string& what) {
    o.lr(number_at(group, "lr", what));
    auto it = group.find("betas");
    if (it == group.end()) throw Error(what + " has no 'betas'");
    std::vector<c10::IValue> items;
    if (it->value().isTuple()) items = it->value().toTupleRef().elements().vec();
    if (it->value().isList()) items = it->value().toList().vec();
    if (items.size() != 2) throw Error(what + ": 'betas' is not a pair of numbers");
    const std::vector<double> betas = {as_number(items[0], what + ": betas[0]"),
                                       as_number(items[1], what + ": betas[1]")};
    o.betas(std::make_tuple(betas[0], betas[1]));
    o.eps(number_at(group, "eps", what));
    o.weight_decay(number_at(group, "weight_decay", what));
    o.amsgrad(number_at(group, "amsgrad", what) != 0);
  }
  static GenericDict save_state(const State& s) {
    GenericDict d = new_dict();
    // PyTorch 1.13 keeps `step` as a float tensor.
    d.insert("step", torch::tensor(static_cast<double>(s.step()), torch::kFloat));
    d.insert("exp_avg", s.exp_avg());
    d.insert("exp_avg_sq", s.exp_avg_sq());
    if (s.max_exp_avg_sq().defined()) d.insert("max_exp_avg_sq", s.max_exp_avg_sq());
    return d;
  }
  static std::unique_ptr<State> load_state(const GenericDict& d, const torch::Tensor& param,
                                           const std::string& what) {
    auto s = std::make_unique<State>();
    auto it = d.find("step");
    if (it == d.end()) throw Error(what + " has no 'step'");
    const c10::IValue& step = it->value();
    s->step(step.isTensor() ? static_cast<int64_t>(step.toTensor().item<double>())
                            : static_cast<int64_t>(number_at(d, "step", what)));
    s->exp_avg(tensor_at(d, "exp_avg", param, what));
    s->exp_avg_sq(tensor_at(d, "exp_avg_sq", param, what));
    s->max_exp_avg_sq(tensor_at(d, "max_exp_avg_sq", param, what));
    if (!s->exp_avg().defined() || !s->exp_avg_sq().defined())
      throw Error(what + " lacks exp_avg or exp_avg_sq");
    return s;
  }
};

using AdamTraits = AdamFamilyTraits<torch::optim::Adam, torch::optim::AdamOptions,
                                    torch::optim::AdamParamState, false>;
using AdamWTraits = AdamFamilyTraits<torch::optim::AdamW, torch::optim::AdamWOptions,
                                     torch::optim::AdamWParamState, true>;

/// One LibTorch optimizer over the context's groups (see the file comment).
template <class Traits>
class TorchOptimizer : public OptimizerBase, public SerializableOptimizer {
 public:
  static Schema schema() { return Traits::schema(); }

  static std::shared_ptr<TorchOptimizer> create(const ComponentConfig& cfg,
                                                const OptimizerContext& context) {
    return std::make_shared<TorchOptimizer>(Traits::options(cfg), context.param_groups);
  }

  TorchOptimizer(const typename Traits::Options& defaults, const std::vector<ParamGroup>& groups) {
    std::vector<torch::optim::OptimizerParamGroup> torch_groups;
    for (const auto& group : groups) {
      auto options = std::make_unique<typename Traits::Options>(defaults);
      if (group.lr) options->lr(*group.lr);
      if (group.weight_decay) options->weight_decay(*group.weight_decay);
      std::vector<torch::Tensor> params;
      for (const auto& p : group.params)
        params.push_back(p.tensor);
      torch_groups.emplace_back(std::move(params), std::move(options));
    }
    optimizer_ = std::make_unique<typename Traits::Optimizer>(torch_groups, defaults);
    extras_.resize(groups.size());
  }

  torch::optim::Optimizer& optimizer() override { return *optimizer_; }
  bool has_momentum() const override { return true; }

  double momentum(size_t group) const override { return Traits::momentum(options_of(group)); }
  void set_momentum(size_t group, double value) override {
    Traits::set_momentum(options_of(group), value);
  }
  double setdefault(size_t group, const std::string& key, double value) override {
    auto& extras = extras_.at(group);
    return extras.emplace(key, value).first->second;
  }

  c10::IValue state_dict() const override {
    GenericDict state(c10::IntType::get(), c10::AnyType::get());
    c10::impl::GenericList groups(c10::AnyType::get());
    int64_t index = 0;
    const auto& all_state = optimizer_->state();
    for (size_t g = 0; g < optimizer_->param_groups().size(); ++g) {
      const auto& group = optimizer_->param_groups()[g];
      GenericDict entry = new_dict();
      Traits::describe(static_cast<const typename Traits::Options&>(group.options()), entry);
      for (const auto& [key, value] : extras_[g])
        entry.insert(key, value);
      c10::impl::GenericList params(c10::IntType::get());
      for (const auto& p : group.params()) {
        auto it = all_state.find(c10::guts::to_string(p.unsafeGetTensorImpl()));
        if (it != all_state.end()) {
          state.insert(index,
                       Traits::save_state(static_cast<const typename Traits::State&>(*it->second)));
        }
        params.push_back(index++);
      }
      entry.insert("params", params);
      groups.push_back(entry);
    }
    GenericDict top = new_dict();
    top.insert("state", state);
    top.insert("param_groups", groups);
    return top;
  }

  void load_state_dict(const c10::IValue& value) override {
    const std::string what = std::string("the checkpoint's ") + Traits::name + " state";
    if (!value.isGenericDict()) throw Error(what + " is not a dict");
    const GenericDict top = value.toGenericDict();
    auto groups_it = top.find("param_groups");
    auto state_it = top.find("state");
    if (groups_it == top.end() || !groups_it->value().isList() || state_it == top.end() ||
        !state_it->value().isGenericDict()) {
      throw Error(what + " lacks 'param_groups' (list) or 'state' (dict)");
    }
    const auto saved_groups = groups_it->value().toList();
    auto& groups = optimizer_->param_groups();
    if (saved_groups.size() != groups.size()) {
      throw Error(what + " has " + std::to_string(saved_groups.size()) +
                  " parameter groups, the optimizer has " + std::to_string(groups.size()) +
                  " (another model or paramwise_cfg?)");
    }
    // Check every group and buffer before changing anything.
    std::vector<typename Traits::Options> options;
    std::vector<std::map<std::string, double>> extras(groups.size());
    std::vector<std::pair<std::string, std::unique_ptr<typename Traits::State>>> states;
    const GenericDict saved_state = state_it->value().toGenericDict();
    for (size_t g = 0; g < groups.size(); ++g) {
      const std::string group_what = what + ", group " + std::to_string(g);
      if (!saved_groups.get(g).isGenericDict()) throw Error(group_what + " is not a dict");
      const GenericDict saved = saved_groups.get(g).toGenericDict();
      options.push_back(static_cast<const typename Traits::Options&>(groups[g].options()));
      Traits::restore(options.back(), saved, group_what);
      for (const auto& entry : saved) {
        const std::string key = entry.key().toStringRef();
        if (key.rfind("initial_", 0) == 0 && (entry.value().isDouble() || entry.value().isInt()))
          extras[g][key] = number_at(saved, key, group_what);
      }
      auto params_it = saved.find("params");
      if (params_it == saved.end() || !params_it->value().isList())
        throw Error(group_what + " has no 'params' list");
      const auto indices = params_it->value().toList();
      if (indices.size() != groups[g].params().size()) {
        throw Error(group_what + " has " + std::to_string(indices.size()) +
                    " parameters, the optimizer's has " +
                    std::to_string(groups[g].params().size()));
      }
      for (size_t i = 0; i < indices.size(); ++i) {
        const torch::Tensor& param = groups[g].params()[i];
        if (!indices.get(i).isInt()) throw Error(group_what + ": a parameter index is not an int");
        auto found = saved_state.find(indices.get(i));
        if (found == saved_state.end()) continue;
        if (!found->value().isGenericDict())
          throw Error(group_what + ": the state of a parameter is not a dict");
        auto state = Traits::load_state(found->value().toGenericDict(), param,
                                        group_what + ", parameter " + std::to_string(i));
        if (state)
          states.emplace_back(c10::guts::to_string(param.unsafeGetTensorImpl()), std::move(state));
      }
    }
    for (size_t g = 0; g < groups.size(); ++g)
      static_cast<typename Traits::Options&>(groups[g].options()) = options[g];
    extras_ = std::move(extras);
    auto& all_state = optimizer_->state();
    all_state.clear();
    for (auto& [key, state] : states)
      all_state[key] = std::move(state);
  }

 private:
  typename Traits::Options& options_of(size_t group) const {
    return static_cast<typename Traits::Options&>(optimizer_->param_groups().at(group).options());
  }

  std::unique_ptr<typename Traits::Optimizer> optimizer_;
  /// MMCV's extra group keys (initial_lr, initial_momentum), per group.
  std::vector<std::map<std::string, double>> extras_;
};

using SGD = TorchOptimizer<SGDTraits>;
using Adam = TorchOptimizer<AdamTraits>;
using AdamW = TorchOptimizer<AdamWTraits>;

}  // namespace

DETKIT_REGISTER(optimizer, SGD);
DETKIT_REGISTER(optimizer, Adam);
DETKIT_REGISTER(optimizer, AdamW);

}  // namespace detkit
