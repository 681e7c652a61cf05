// The c10d process group (see detkit/core/distributed.h): a TCPStore held by rank 0 and
// ProcessGroupGloo, with PyTorch's own error messages wrapped into detkit::Error naming the
// rank, the peer address and the timeout.
#include "detkit/core/distributed.h"

#include <torch/nn/module.h>
#include <torch/torch.h>

#include <cstdlib>
#include <string>

#include "detkit/error.h"

#include <c10/util/Exception.h>

#if defined(DETKIT_WITH_GLOO)
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

namespace detkit {

namespace {

/// The value of environment variable `name`; throws Error when it is unset or empty.
std::string required_env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') {
    throw Error(std::string("distributed launch: the environment variable ") + name +
                " is not set (torchrun and `detkit dist-train` set RANK, WORLD_SIZE, "
                "MASTER_ADDR and MASTER_PORT)");
  }
  return value;
}

/// `name`'s value as an integer in [low, high]; throws Error naming it otherwise.
int64_t env_integer(const char* name, int64_t low, int64_t high) {
  const std::string text = required_env(name);
  size_t used = 0;
  int64_t value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || value < low || value > high) {
    throw Error(std::string("distributed launch: ") + name + "='" + text +
                "' is not an integer in [" + std::to_string(low) + ", " + std::to_string(high) +
                "]");
  }
  return value;
}

/// An exception's message without c10's backtrace.
std::string message_of(const std::exception& e) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e))
    return c10_error->what_without_backtrace();
  return e.what();
}

}  // namespace

DistributedOptions distributed_options_from_env() {
  DistributedOptions options;
  options.world_size = env_integer("WORLD_SIZE", 1, 1 << 20);
  options.rank = env_integer("RANK", 0, options.world_size - 1);
  options.master_addr = required_env("MASTER_ADDR");
  options.master_port = static_cast<int>(env_integer("MASTER_PORT", 1, 65535));
  return options;
}

#if defined(DETKIT_WITH_GLOO)

bool distributed_available() {
  return true;
}

struct ProcessGroup::Impl {
  DistributedOptions options;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;

  /// Runs a collective and waits for it; c10d's errors become Errors naming the rank.
  template <class Call>
  void run(const char* what, Call&& call) {
    try {
      call()->wait(options.timeout);
    } catch (const std::exception& e) {
      throw Error("distributed " + std::string(what) + " failed on rank " +
                  std::to_string(options.rank) + " of " + std::to_string(options.world_size) +
                  " (a peer died or did not answer within " +
                  std::to_string(options.timeout.count() / 1000) + " s): " + message_of(e));
    }
  }
};

ProcessGroup::ProcessGroup(const DistributedOptions& options) : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  if (options.world_size < 1 || options.rank < 0 || options.rank >= options.world_size) {
    throw Error("distributed: rank " + std::to_string(options.rank) + " is not in [0, " +
                std::to_string(options.world_size) + ")");
  }
  try {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<uint16_t>(options.master_port);
    store_options.isServer = options.rank == 0;
    store_options.numWorkers = static_cast<size_t>(options.world_size);
    store_options.waitWorkers = true;
    store_options.timeout = options.timeout;
    auto store = c10::make_intrusive<c10d::TCPStore>(options.master_addr, store_options);
    auto gloo = c10d::ProcessGroupGloo::Options::create();
    gloo->timeout = options.timeout;
    // On one machine the loopback interface; across machines the interface of this host's
    // name, as PyTorch's default.
    const bool local = options.master_addr == "127.0.0.1" || options.master_addr == "localhost";
    gloo->devices.push_back(local ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                  : c10d::ProcessGroupGloo::createDefaultDevice());
    impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(
        store, static_cast<int>(options.rank), static_cast<int>(options.world_size), gloo);
  } catch (const std::exception& e) {
    throw Error("distributed: rank " + std::to_string(options.rank) + " of " +
                std::to_string(options.world_size) + " could not join the group at " +
                options.master_addr + ":" + std::to_string(options.master_port) + " within " +
                std::to_string(options.timeout.count() / 1000) + " s: " + message_of(e));
  }
}

void ProcessGroup::all_reduce_mean(std::vector<torch::Tensor>& tensors) {
  if (tensors.empty()) return;
  // One flat buffer, one collective (c10d's list form means copies of one tensor).
  std::vector<torch::Tensor> flat;
  for (const auto& tensor : tensors)
    flat.push_back(tensor.reshape({-1}).to(torch::kFloat));
  std::vector<torch::Tensor> buffer = {torch::cat(flat)};
  impl_->run("all-reduce", [&] { return impl_->group->allreduce(buffer); });
  buffer[0].div_(static_cast<double>(impl_->options.world_size));
  int64_t offset = 0;
  for (auto& tensor : tensors) {
    const int64_t n = tensor.numel();
    tensor.copy_(buffer[0].slice(0, offset, offset + n).view_as(tensor));
    offset += n;
  }
}

void ProcessGroup::broadcast(std::vector<torch::Tensor>& tensors, int64_t root) {
  if (tensors.empty()) return;
  c10d::BroadcastOptions options;
  options.rootRank = root;
  for (auto& tensor : tensors) {
    std::vector<torch::Tensor> one = {tensor};
    impl_->run("broadcast", [&] { return impl_->group->broadcast(one, options); });
  }
}

void ProcessGroup::barrier() {
  impl_->run("barrier", [&] { return impl_->group->barrier(); });
}

#else  // no Gloo

bool distributed_available() {
  return false;
}

struct ProcessGroup::Impl {
  DistributedOptions options;
};

ProcessGroup::ProcessGroup(const DistributedOptions& options) : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  throw Error(
      "distributed training needs c10d's Gloo backend: install Debian's libgloo-dev "
      "(tools/install_deps.sh does) and rebuild detkit");
}

void ProcessGroup::all_reduce_mean(std::vector<torch::Tensor>&) {}
void ProcessGroup::broadcast(std::vector<torch::Tensor>&, int64_t) {}
void ProcessGroup::barrier() {}

#endif

ProcessGroup::~ProcessGroup() = default;

void broadcast_parameters(torch::nn::Module& module, ProcessGroup& group) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> tensors;
  for (const auto& parameter : module.parameters())
    tensors.push_back(parameter);
  for (const auto& buffer : module.buffers())
    tensors.push_back(buffer);
  group.broadcast(tensors, 0);
}

void average_gradients(torch::nn::Module& module, ProcessGroup& group, int64_t bucket_bytes) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> parameters;
  for (const auto& parameter : module.parameters()) {
    if (parameter.requires_grad()) parameters.push_back(parameter);
  }
  std::vector<torch::Tensor> bucket;
  int64_t filled = 0;
  const auto flush = [&] {
    if (bucket.empty()) return;
    group.all_reduce_mean(bucket);
    bucket.clear();
    filled = 0;
  };
  for (auto it = parameters.rbegin(); it != parameters.rend(); ++it) {
    torch::Tensor& parameter = *it;
    if (!parameter.grad().defined()) parameter.mutable_grad() = torch::zeros_like(parameter);
    bucket.push_back(parameter.mutable_grad());
    filled += parameter.numel() * static_cast<int64_t>(parameter.element_size());
    if (filled >= bucket_bytes) flush();
  }
  flush();
}

int64_t ProcessGroup::rank() const {
  return impl_->options.rank;
}

int64_t ProcessGroup::world_size() const {
  return impl_->options.world_size;
}

}  // namespace detkit
