// The init session: MMCV's `_params_init_info` while a top-level init_weights runs. Every
// parameter of the top module starts as "The value is the same before and after calling
// `init_weights` of <Top> " with its current mean; after each initializer (and each child's own
// init_weights) the parameters whose mean changed take that step's record.
#include <algorithm>
#include <string>
#include <vector>

#include "detkit/error.h"
#include "init_internal.h"

namespace detkit::detail {

namespace {

/// The running sessions of this thread, innermost last (a top-level init_weights of another
/// model may run inside one).
thread_local std::vector<InitSession*> t_sessions;

/// The mean MMCV compares (param.data.mean()), as a double; NaN for an empty tensor.
double mean_of(const torch::Tensor& tensor) {
  torch::NoGradGuard no_grad;
  return tensor.detach().mean().item<double>();
}

}  // namespace

InitSession::InitSession(torch::nn::Module& top, const std::string& top_class) : top_(top) {
  modules_.insert(&top);
  for (const auto& module : top.modules(/*include_self=*/false))
    modules_.insert(module.get());
  const std::string info =
      "The value is the same before and after calling `init_weights` of " + top_class + " ";
  for (const auto& parameter : top.named_parameters()) {
    params_[parameter.value().unsafeGetTensorImpl()] = Entry{info, mean_of(parameter.value())};
  }
  t_sessions.push_back(this);
}

bool InitSession::contains(const torch::nn::Module& module) const {
  return modules_.count(&module) != 0;
}

void InitSession::update(torch::nn::Module& module, const std::string& info) {
  for (const auto& parameter : module.named_parameters()) {
    const auto found = params_.find(parameter.value().unsafeGetTensorImpl());
    if (found == params_.end()) {
      throw Error("found a new parameter '" + parameter.key() + "' while running init_weights of " +
                  mmcv_class_name(module) +
                  ": do not add or replace parameters in init_weights (register them in the "
                  "constructor)");
    }
    const double mean = mean_of(parameter.value());
    // `!=` as on Python tensors: NaN (an empty parameter) always counts as changed.
    if (!(found->second.mean == mean)) {
      found->second.info = info;
      found->second.mean = mean;
    }
  }
}

InitLog InitSession::log() const {
  InitLog log;
  for (const auto& parameter : top_.named_parameters()) {
    const auto found = params_.find(parameter.value().unsafeGetTensorImpl());
    InitRecord record;
    record.name = parameter.key();
    record.shape = parameter.value().sizes().vec();
    if (found != params_.end()) record.info = found->second.info;
    log.push_back(std::move(record));
  }
  return log;
}

InitSession* session_of(const torch::nn::Module& module) {
  for (auto it = t_sessions.rbegin(); it != t_sessions.rend(); ++it) {
    if ((*it)->contains(module)) return *it;
  }
  return nullptr;
}

void end_session(InitSession* session) {
  const auto found = std::find(t_sessions.begin(), t_sessions.end(), session);
  if (found != t_sessions.end()) t_sessions.erase(found);
}

void update_init_info(torch::nn::Module& module, const std::string& info) {
  if (InitSession* session = session_of(module)) session->update(module, info);
}

}  // namespace detkit::detail
