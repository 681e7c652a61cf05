// HostRunner: see detkit/core/host_runner.h. MMCV 1.7's BaseRunner / EpochBasedRunner /
// IterBasedRunner (mmcv/runner/{base,epoch_based,iter_based}_runner.py) and MMDetection 2.25's
// train_step / _parse_losses.
#include "detkit/core/host_runner.h"

#include <torch/torch.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <ctime>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <fmt/format.h>

#include "detkit/checkpoint.h"
#include "detkit/core/checkpoint_io.h"
#include "detkit/core/interrupt.h"
#include "detkit/core/optimizers.h"
#include "detkit/engine/dist_utils.h"
#include "detkit/error.h"
#include "detkit/modeling/detector.h"
#include "detkit/version.h"

namespace detkit {

namespace fs = std::filesystem;

// ---------------------------------------------------------------- LogBuffer

void LogBuffer::update(const std::string& key, double value, int64_t count) {
  auto it = std::find(keys_.begin(), keys_.end(), key);
  if (it == keys_.end()) {
    keys_.push_back(key);
    history_.emplace_back();
    it = keys_.end() - 1;
  }
  history_[it - keys_.begin()].emplace_back(value, count);
}

void LogBuffer::average(int64_t n) {
  for (size_t k = 0; k < keys_.size(); ++k) {
    const auto& values = history_[k];
    if (values.empty()) continue;
    const size_t take = n <= 0 ? values.size() : std::min(values.size(), static_cast<size_t>(n));
    double sum = 0.0;
    int64_t count = 0;
    for (size_t i = values.size() - take; i < values.size(); ++i) {
      sum += values[i].first * static_cast<double>(values[i].second);
      count += values[i].second;
    }
    put_output(keys_[k], count > 0 ? sum / static_cast<double>(count) : 0.0);
  }
  ready_ = true;
}

void LogBuffer::put_output(const std::string& key, double value) {
  for (auto& entry : output_) {
    if (entry.first == key) {
      entry.second = value;
      ready_ = true;
      return;
    }
  }
  output_.emplace_back(key, value);
  ready_ = true;
}

void LogBuffer::clear_output() {
  output_.clear();
  ready_ = false;
}

void LogBuffer::clear() {
  keys_.clear();
  history_.clear();
  clear_output();
}

// ---------------------------------------------------------------- HostRunner

namespace {

/// "2026-12-01 06:35:00,123": the time stamp of MMCV's log lines.
std::string log_time() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  localtime_r(&t, &tm);
  std::ostringstream out;
  out << std::put_time(&tm, "%Y-%m-%d %H:%M:%S") << ',' << std::setw(3) << std::setfill('0') << ms;
  return out.str();
}

/// Python's time.asctime(): "Tue Dec  1 06:35:00 2026".
std::string asctime_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buffer[64];
  std::strftime(buffer, sizeof buffer, "%a %b %e %H:%M:%S %Y", &tm);
  return buffer;
}

/// MMCV's priority names, for the hook order it logs.
std::string priority_name(int priority) {
  switch (priority) {
    case 0:
      return "HIGHEST";
    case 10:
      return "VERY_HIGH";
    case 30:
      return "HIGH";
    case 40:
      return "ABOVE_NORMAL";
    case 50:
      return "NORMAL";
    case 60:
      return "BELOW_NORMAL";
    case 70:
      return "LOW";
    case 90:
      return "VERY_LOW";
    case 100:
      return "LOWEST";
    default:
      return std::to_string(priority);
  }
}

/// Points a symlink `link` at `target` (a name in the same folder), replacing an old link;
/// copies the file where the file system has no symlinks.
void point_latest(const fs::path& link, const fs::path& target) {
  const fs::path temporary = link.string() + ".tmp." + std::to_string(::getpid());
  std::error_code ec;
  fs::remove(temporary, ec);
  fs::create_symlink(target.filename(), temporary, ec);
  if (!ec) {
    fs::rename(temporary, link, ec);
    if (!ec) return;
    fs::remove(temporary, ec);
  }
  fs::copy_file(target, temporary, fs::copy_options::overwrite_existing, ec);
  if (!ec) fs::rename(temporary, link, ec);
  if (ec) throw CheckpointError("cannot update '" + link.string() + "': " + ec.message());
}

}  // namespace

HostRunner::HostRunner(DetectorBase& model, OptimizerBase* optimizer, std::string work_dir,
                       bool by_epoch, int64_t max_epochs, int64_t max_iters)
    : model_(model),
      optimizer_(optimizer),
      work_dir_(std::move(work_dir)),
      by_epoch_(by_epoch),
      max_epochs_(max_epochs),
      max_iters_(max_iters) {
  meta_.set("hook_msgs", ConfigNode::make_map());
}

HostRunner::~HostRunner() = default;

void HostRunner::set_loader(const std::string& mode, std::shared_ptr<DataLoader> loader,
                            std::vector<std::string> classes) {
  loaders_.emplace_back(mode, std::move(loader));
  classes_.emplace_back(mode, std::move(classes));
}

void HostRunner::set_workflow(std::vector<std::pair<std::string, int64_t>> workflow) {
  for (const auto& [mode, count] : workflow) {
    if (mode != "train" && mode != "val")
      throw ConfigError("workflow: unknown phase '" + mode + "' (train or val)");
    if (count < 1) throw ConfigError("workflow: the count of '" + mode + "' must be >= 1");
  }
  workflow_ = std::move(workflow);
}

void HostRunner::register_hook(RegisteredHook hook) {
  if (hook.priority < 0 || hook.priority > 100) {
    throw ConfigError("hook " + hook.name + ": priority must be in [0, 100], got " +
                      std::to_string(hook.priority));
  }
  auto it = std::find_if(hooks_.begin(), hooks_.end(),
                         [&](const RegisteredHook& h) { return h.priority > hook.priority; });
  hooks_.insert(it, std::move(hook));
}

void HostRunner::set_evaluator(std::function<NamedValues(const ConfigNode&)> evaluator) {
  evaluator_ = std::move(evaluator);
}

void HostRunner::open_log(const std::string& timestamp, bool console) {
  timestamp_ = timestamp;
  console_ = console;
  const fs::path path = fs::path(work_dir_) / (timestamp + ".log");
  log_file_.open(path, std::ios::app);
  if (!log_file_) throw Error("cannot write the log file '" + path.string() + "'");
}

DataLoader& HostRunner::loader(const std::string& mode) const {
  for (const auto& [name, loader] : loaders_) {
    if (name == mode) return *loader;
  }
  throw Error("the runner has no '" + mode + "' loader");
}

int64_t HostRunner::iters_per_epoch() const {
  return static_cast<int64_t>(loader(mode_).num_batches());
}

void HostRunner::call_hook(HookPoint point) {
  for (const auto& registered : hooks_)
    (registered.hook.get()->*point)(*this);
}

void HostRunner::log_hook_order() {
  // MMCV lists, per stage, the hooks that override it; C++ cannot tell which points a hook
  // overrides, so the order (the same at every stage) is logged once.
  std::string text = "Hooks will be executed in the following order:";
  for (const auto& h : hooks_)
    text += fmt::format("\n({:<12}) {}", priority_name(h.priority), h.name);
  log_info(text);
}

void HostRunner::run_step(const ImageBatch& batch, bool train) {
  LossDict losses = model_.loss(batch);
  // MMDetection's _parse_losses: each entry's mean (a list of per-level values: their sum),
  // the total of the entries whose name contains "loss".
  NamedValues log_vars;
  torch::Tensor total;
  for (const auto& item : losses) {
    const torch::Tensor value = item.value().dim() == 0 ? item.value() : item.value().sum();
    log_vars.emplace_back(item.key(), value.item<double>());
    if (item.key().find("loss") != std::string::npos)
      total = total.defined() ? total + value : value;
  }
  if (!total.defined()) throw Error("the model returned no loss (no entry named '*loss*')");
  log_vars.emplace_back("loss", total.item<double>());
  if (dist_world_size() > 1) reduce_log_vars(log_vars);
  step_loss_ = train ? total : total.detach();
  step_log_vars_ = log_vars;
  step_num_samples_ = batch.size();
  for (const auto& [key, value] : log_vars)
    log_buffer_.update(key, value, step_num_samples_);
}

void HostRunner::reduce_log_vars(NamedValues& log_vars) const {
  // MMDetection's _parse_losses: every rank must log the same variables (checked first, as
  // its "loss log variables are different across GPUs!"), each the mean over the ranks.
  const auto count = static_cast<double>(log_vars.size());
  std::vector<torch::Tensor> lengths = {torch::tensor({count, count * count})};
  all_reduce_mean(lengths);
  if (lengths[0][0].item<double>() != count || lengths[0][1].item<double>() != count * count) {
    throw Error(fmt::format(
        "rank {}: the ranks' models return different loss entries in this step ({} here); "
        "every rank must log the same losses",
        dist_rank(), log_vars.size()));
  }
  torch::Tensor values = torch::empty({static_cast<int64_t>(log_vars.size())}, torch::kDouble);
  for (size_t i = 0; i < log_vars.size(); ++i)
    values[static_cast<int64_t>(i)] = log_vars[i].second;
  std::vector<torch::Tensor> buffer = {values};
  all_reduce_mean(buffer);
  for (size_t i = 0; i < log_vars.size(); ++i)
    log_vars[i].second = buffer[0][static_cast<int64_t>(i)].item<double>();
}

void HostRunner::train_epoch() {
  model_.train();
  mode_ = "train";
  DataLoader& train_loader = loader("train");
  train_loader.set_epoch(epoch_);
  call_hook(&HookBase::before_train_epoch);
  inner_iter_ = 0;
  for (stop_if_requested(); auto batch = train_loader.next(); stop_if_requested()) {
    call_hook(&HookBase::before_train_iter);
    run_step(*batch, /*train=*/true);
    call_hook(&HookBase::after_train_iter);
    step_loss_ = torch::Tensor();
    ++iter_;
    ++inner_iter_;
  }
  --inner_iter_;  // MMCV's inner_iter stays at the last batch's index
  call_hook(&HookBase::after_train_epoch);
  ++epoch_;
}

void HostRunner::val_epoch() {
  model_.eval();
  mode_ = "val";
  DataLoader& val_loader = loader("val");
  val_loader.set_epoch(epoch_);
  call_hook(&HookBase::before_val_epoch);
  torch::NoGradGuard no_grad;
  inner_iter_ = 0;
  for (stop_if_requested(); auto batch = val_loader.next(); stop_if_requested()) {
    call_hook(&HookBase::before_val_iter);
    run_step(*batch, /*train=*/false);
    call_hook(&HookBase::after_val_iter);
    ++inner_iter_;
  }
  --inner_iter_;
  call_hook(&HookBase::after_val_epoch);
}

ImageBatch HostRunner::next_train_batch() {
  DataLoader& train_loader = loader("train");
  if (loader_epoch_ < 0) {
    loader_epoch_ = epoch_;
    train_loader.set_epoch(loader_epoch_);
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (auto batch = train_loader.next()) return std::move(*batch);
    // IterLoader: a finished pass starts the next epoch.
    ++loader_epoch_;
    epoch_ = loader_epoch_;
    train_loader.set_epoch(loader_epoch_);
  }
  throw Error("the training loader yields no batch (empty dataset?)");
}

void HostRunner::stop_if_requested() const {
  int signal = interrupt_signal();
  if (dist_world_size() > 1) {
    // Every rank stops at the same iteration: the highest signal any rank received (a rank
    // that stopped alone would leave the others waiting in the next collective).
    std::vector<torch::Tensor> flag = {torch::tensor({static_cast<double>(signal)})};
    all_reduce_sum(flag);
    if (flag[0].item<double>() > 0 && signal == 0) signal = SIGTERM;
  }
  if (signal == 0) return;
  std::string last;
  if (const ConfigNode* msgs = meta_.find("hook_msgs"); msgs != nullptr && msgs->is_map()) {
    if (const ConfigNode* ckpt = msgs->find("last_ckpt"); ckpt != nullptr && ckpt->is_string())
      last = ckpt->as_string();
  }
  throw TrainingInterrupted(signal, epoch_ + 1, iter_, last);
}

void HostRunner::run() {
  if (by_epoch_) {
    max_iters_ = max_epochs_ * static_cast<int64_t>(loader("train").num_batches());
  }
  for (const auto& [mode, count] : workflow_) {
    (void)count;
    loader(mode);  // every phase needs its loader
  }
  char host[256] = "localhost";
  ::gethostname(host, sizeof host - 1);
  const char* user = std::getenv("USER");
  log_info(fmt::format("Start running, host: {}@{}, work_dir: {}", user ? user : "user", host,
                       fs::absolute(work_dir_).string()));
  log_hook_order();
  std::string flow;
  for (const auto& [mode, count] : workflow_)
    flow += fmt::format("{}('{}', {})", flow.empty() ? "" : ", ", mode, count);
  log_info(fmt::format("workflow: [{}], max: {} {}", flow, by_epoch_ ? max_epochs_ : max_iters_,
                       by_epoch_ ? "epochs" : "iters"));
  call_hook(&HookBase::before_run);
  if (by_epoch_) {
    while (epoch_ < max_epochs_) {
      for (const auto& [mode, count] : workflow_) {
        for (int64_t i = 0; i < count; ++i) {
          if (mode == "train") {
            if (epoch_ >= max_epochs_) break;
            train_epoch();
          } else {
            val_epoch();
          }
        }
      }
    }
  } else {
    // IterBasedRunner: before_train_epoch once at the start, after_train_epoch once at the end
    // (MMCV calls only the generic before_epoch / after_epoch there, which detkit's hooks do
    // not have; policies left by_epoch are rejected by the policies themselves).
    mode_ = "train";
    call_hook(&HookBase::before_train_epoch);
    while (iter_ < max_iters_) {
      for (const auto& [mode, count] : workflow_) {
        inner_iter_ = 0;
        for (int64_t i = 0; i < count; ++i) {
          if (mode == "train") {
            if (iter_ >= max_iters_) break;
            stop_if_requested();
            model_.train();
            mode_ = "train";
            ImageBatch batch = next_train_batch();
            call_hook(&HookBase::before_train_iter);
            run_step(batch, /*train=*/true);
            call_hook(&HookBase::after_train_iter);
            step_loss_ = torch::Tensor();
            ++inner_iter_;
            ++iter_;
          } else {
            val_epoch();
          }
        }
      }
    }
    mode_ = "train";
    call_hook(&HookBase::after_train_epoch);
  }
  call_hook(&HookBase::after_run);
}

void HostRunner::log_update(const std::string& key, double value, int64_t count) {
  log_buffer_.update(key, value, count);
}
void HostRunner::log_average(int64_t n) {
  log_buffer_.average(n);
}
NamedValues HostRunner::log_output() const {
  return log_buffer_.output();
}
void HostRunner::log_put_output(const std::string& key, double value) {
  log_buffer_.put_output(key, value);
}
bool HostRunner::log_ready() const {
  return log_buffer_.ready();
}
void HostRunner::log_clear_output() {
  log_buffer_.clear_output();
}
void HostRunner::log_clear() {
  log_buffer_.clear();
}

void HostRunner::log_info(const std::string& line) {
  if (!is_main_process()) return;  // rank 0 logs for the run (MMCV's master_only logger)
  const std::string stamped = log_time() + " - detkit - INFO - " + line;
  if (console_) std::cout << stamped << std::endl;
  if (log_file_.is_open()) log_file_ << stamped << '\n' << std::flush;
}

std::string HostRunner::save_checkpoint(const std::string& out_dir,
                                        const std::string& filename_tmpl, bool save_optimizer,
                                        const ConfigNode& extra_meta, bool create_symlink) {
  std::string filename = filename_tmpl;
  const auto slot = filename.find("{}");
  if (slot != std::string::npos)
    filename.replace(slot, 2, std::to_string(by_epoch_ ? epoch_ + 1 : iter_ + 1));
  const fs::path path = fs::path(out_dir) / filename;
  // Rank 0 writes (MMCV's master_only _save_checkpoint); every rank knows the path.
  if (!is_main_process()) return path.string();
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  ConfigNode meta = meta_;
  if (extra_meta.is_map()) {
    for (const auto& entry : extra_meta.entries())
      meta.set(entry.key, entry.value);
  }
  meta.set("epoch", ConfigNode(epoch_ + 1));
  // MMCV: an IterBasedRunner saves from after_train_iter, before its iteration is counted, and
  // records the iterations done including it (so a resume continues after it); an
  // EpochBasedRunner saves after the epoch's iterations are counted.
  meta.set("iter", ConfigNode(by_epoch_ ? iter_ : iter_ + 1));
  meta.set("detkit_version", ConfigNode(std::string(BuildInfo::version())));
  meta.set("time", ConfigNode(asctime_now()));
  ConfigNode classes = ConfigNode::make_list();
  for (const auto& name : model_.class_names())
    classes.push_back(ConfigNode(name));
  meta.set("CLASSES", classes);

  std::vector<std::pair<std::string, c10::IValue>> extra;
  if (save_optimizer && optimizer_ != nullptr) {
    if (const auto* serializable = dynamic_cast<const SerializableOptimizer*>(optimizer_)) {
      extra.emplace_back("optimizer", serializable->state_dict());
    }
  }
  c10::impl::GenericDict rng(c10::StringType::get(), c10::AnyType::get());
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  rng.insert("torch_cpu", generator.get_state());
  extra.emplace_back("rng", rng);
  save_checkpoint_entries(path.string(), named_tensors(model_), meta, extra);
  if (create_symlink) point_latest(fs::path(out_dir) / "latest.pth", path);
  return path.string();
}

void HostRunner::resume(const std::string& path) {
  Checkpoint checkpoint = load_checkpoint(path);
  // Stricter than MMCV (strict=False): resuming weights of other shapes is another model's
  // checkpoint, an error listing every mismatch; missing / unexpected keys are reported.
  const LoadReport report =
      load_state_dict(model_, checkpoint.state_dict, LoadPolicy::fail_on_size_mismatch);
  if (!report.clean()) log_info(report.message());
  const ConfigNode* epoch = checkpoint.meta.find("epoch");
  const ConfigNode* iter = checkpoint.meta.find("iter");
  if (epoch == nullptr || !epoch->is_int() || iter == nullptr || !iter->is_int()) {
    throw CheckpointError("cannot resume from '" + path +
                          "': its meta has no epoch / iter (a weights-only file? use load_from)");
  }
  epoch_ = epoch->as_int();
  iter_ = iter->as_int();
  if (!by_epoch_) inner_iter_ = iter_;
  if (const ConfigNode* msgs = checkpoint.meta.find("hook_msgs"); msgs != nullptr && msgs->is_map())
    meta_.set("hook_msgs", *msgs);
  if (optimizer_ != nullptr) {
    auto state = read_checkpoint_entry(path, "optimizer");
    auto* serializable = dynamic_cast<SerializableOptimizer*>(optimizer_);
    if (state && serializable != nullptr) {
      try {
        serializable->load_state_dict(*state);
      } catch (const Error& e) {
        throw CheckpointError("cannot resume the optimizer from '" + path + "': " + e.what());
      }
    } else if (!state) {
      log_info("resume: '" + path + "' has no optimizer state; the optimizer starts afresh");
    }
  }
  if (auto rng = read_checkpoint_entry(path, "rng"); rng && rng->isGenericDict()) {
    const auto dict = rng->toGenericDict();
    auto it = dict.find("torch_cpu");
    if (it != dict.end() && it->value().isTensor()) {
      at::Generator generator = at::detail::getDefaultCPUGenerator();
      generator.set_state(it->value().toTensor());
    }
  }
  log_info(fmt::format("resumed epoch {}, iter {}", epoch_, iter_));
}

NamedValues HostRunner::evaluate(const ConfigNode& options) {
  if (!evaluator_) throw Error("evaluation needs data.val in the config");
  const bool was_training = model_.is_training();
  model_.eval();
  NamedValues values = evaluator_(options);
  if (was_training) model_.train();
  return values;
}

std::vector<std::string> HostRunner::dataset_classes() const {
  for (const auto& [mode, classes] : classes_) {
    if (mode == mode_) return classes;
  }
  return {};
}

}  // namespace detkit
