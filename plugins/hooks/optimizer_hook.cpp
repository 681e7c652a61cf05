// OptimizerHook (MMCV 1.7): backward, optional gradient clipping, optimizer step.
#include "optimizer_hook.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/accumulate_grad.h>
#include <torch/torch.h>

#include <chrono>
#include <unordered_set>
#include <vector>

#include "detkit/engine/dist_utils.h"
#include "detkit/engine/optimizer.h"
#include "detkit/engine/runner.h"
#include "detkit/error.h"
#include "detkit/modeling/detector.h"
#include "detkit/registry.h"

namespace detkit::hooks {

Schema optimizer_hook_schema(const std::string& summary) {
  Schema grad_clip("gradient clipping (torch.nn.utils.clip_grad_norm_)");
  grad_clip.required<double>("max_norm", "largest allowed gradient norm").greater_than(0);
  grad_clip.add<double>("norm_type", 2.0, "p of the p-norm").greater_than(0);
  Schema s(summary);
  s.nested("grad_clip", std::move(grad_clip), "clip gradients before each step; null = no clipping",
           true);
  s.add<int64_t>("cumulative_iters", 1, "iterations whose gradients are accumulated per step")
      .min(1);
  s.add<bool>("detect_anomalous_params", false, "report parameters that got no gradient");
  return s;
}

OptimizerHookOptions optimizer_hook_options(const ComponentConfig& cfg) {
  OptimizerHookOptions options;
  if (cfg.has("grad_clip")) {
    const ConfigNode& clip = cfg.node("grad_clip");
    GradClipOptions grad_clip;
    grad_clip.max_norm = clip.at("max_norm").as_double();
    if (const ConfigNode* norm_type = clip.find("norm_type")) {
      grad_clip.norm_type = norm_type->as_double();
    }
    options.grad_clip = grad_clip;
  }
  options.detect_anomalous_params = cfg.get<bool>("detect_anomalous_params");
  options.cumulative_iters = cfg.get<int64_t>("cumulative_iters");
  return options;
}

OptimizerBase& require_optimizer(RunnerBase& runner, const char* hook) {
  OptimizerBase* optimizer = runner.optimizer();
  if (optimizer == nullptr) {
    throw Error(std::string(hook) +
                ": the runner has no optimizer (set `optimizer:` in the "
                "config to train)");
  }
  return *optimizer;
}

torch::Tensor trainable_loss(const RunnerBase& runner, const char* hook) {
  torch::Tensor loss = runner.step_loss();
  if (!loss.defined() || loss.numel() != 1) {
    throw Error(std::string(hook) + ": the step's loss is not a scalar tensor");
  }
  if (!loss.requires_grad()) {
    throw Error(std::string(hook) +
                ": the step's loss does not require grad (no loss term depends on a trainable "
                "parameter: are all parameters frozen?)");
  }
  return loss;
}

OptimizerHook::OptimizerHook(OptimizerHookOptions options) : options_(std::move(options)) {}

Schema OptimizerHook::schema() {
  return optimizer_hook_schema(
      "Back-propagate the loss, optionally clip gradients, step the optimizer (MMCV "
      "OptimizerHook).");
}

std::shared_ptr<OptimizerHook> OptimizerHook::create(const ComponentConfig& cfg,
                                                     const HookContext&) {
  OptimizerHookOptions options = optimizer_hook_options(cfg);
  if (options.cumulative_iters != 1) {
    cfg.fail("cumulative_iters",
             "OptimizerHook steps every iteration; to accumulate gradients over " +
                 std::to_string(options.cumulative_iters) +
                 " iterations set `type: GradientCumulativeOptimizerHook`");
  }
  return std::make_shared<OptimizerHook>(options);
}

void OptimizerHook::after_train_iter(RunnerBase& runner) {
  torch::optim::Optimizer& optimizer = require_optimizer(runner, "OptimizerHook").optimizer();
  optimizer.zero_grad();
  torch::Tensor loss = trainable_loss(runner, "OptimizerHook");
  if (options_.detect_anomalous_params) detect_anomalous_parameters(loss, runner);
  loss.backward();
  average_gradients(runner);
  clip_grads(runner);
  optimizer.step();
}

void OptimizerHook::average_gradients(RunnerBase& runner) const {
  if (dist_world_size() == 1) return;
  const auto start = std::chrono::steady_clock::now();
  allreduce_grads(runner.model());
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  runner.log_update("allreduce_time", took.count(), 1);
}

void OptimizerHook::clip_grads(RunnerBase& runner) const {
  if (!options_.grad_clip) return;
  std::vector<torch::Tensor> params;
  for (const auto& param : runner.model().parameters()) {
    if (param.requires_grad() && param.grad().defined()) params.push_back(param);
  }
  if (params.empty()) return;
  const double norm = torch::nn::utils::clip_grad_norm_(params, options_.grad_clip->max_norm,
                                                        options_.grad_clip->norm_type);
  runner.log_update("grad_norm", norm, runner.step_num_samples());
}

void OptimizerHook::detect_anomalous_parameters(const torch::Tensor& loss,
                                                RunnerBase& runner) const {
  using torch::autograd::AccumulateGrad;
  using torch::autograd::Node;
  std::unordered_set<const c10::TensorImpl*> in_graph;
  std::unordered_set<const Node*> visited;
  std::vector<Node*> stack;
  if (loss.grad_fn()) stack.push_back(loss.grad_fn().get());
  while (!stack.empty()) {
    Node* node = stack.back();
    stack.pop_back();
    if (node == nullptr || !visited.insert(node).second) continue;
    if (auto* accumulate = dynamic_cast<AccumulateGrad*>(node)) {
      in_graph.insert(accumulate->variable.unsafeGetTensorImpl());
    }
    for (const auto& edge : node->next_edges())
      stack.push_back(edge.function.get());
  }
  for (const auto& item : runner.model().named_parameters()) {
    const torch::Tensor& param = item.value();
    if (!param.requires_grad() || in_graph.count(param.unsafeGetTensorImpl()) != 0) continue;
    std::string shape;
    for (int64_t d : param.sizes())
      shape += (shape.empty() ? "" : ", ") + std::to_string(d);
    runner.log_info(item.key() + " with shape torch.Size([" + shape +
                    "]) is not in the computational graph");
  }
}

DETKIT_REGISTER(hook, OptimizerHook);

}  // namespace detkit::hooks
