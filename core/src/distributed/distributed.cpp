// The c10d process group (see detkit/core/distributed.h): a TCPStore held by rank 0 and
// ProcessGroupGloo, with PyTorch's own error messages wrapped into detkit::Error naming the
// rank, the peer address and the timeout.
#include "detkit/core/distributed.h"

#include <torch/nn/module.h>
#include <torch/torch.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
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

namespace {

/// Binds a TCP socket to 127.0.0.1:`port` (0: a port the kernel picks) and releases it; the
/// port bound, or 0 when it could not be bound.
int try_bind(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  socklen_t size = sizeof(address);
  const bool bound = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&address), size) == 0 &&
                     ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) == 0;
  if (fd >= 0) ::close(fd);
  return bound ? ntohs(address.sin_port) : 0;
}

}  // namespace

int free_local_port() {
  // A port below the kernel's ephemeral range: the local end of a connection (a Gloo pair, a
  // store client) is never given one there, so nothing but another explicit bind can take it
  // between now and the moment the store binds it.
  int ephemeral_low = 32768;
  if (std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range"); range) {
    int low = 0;
    if (range >> low && low > 2048) ephemeral_low = low;
  }
  const int first = std::max(1024, ephemeral_low - 12000);
  std::mt19937 engine(std::random_device{}());
  std::uniform_int_distribution<int> pick(first, ephemeral_low - 1);
  for (int attempt = 0; attempt < 64; ++attempt) {
    if (const int port = try_bind(pick(engine))) return port;
  }
  if (const int port = try_bind(0)) return port;
  throw Error("no free TCP port on 127.0.0.1: " + std::string(std::strerror(errno)));
}

std::string first_slurm_host(const std::string& node_list) {
  // The first entry: up to the first comma outside brackets.
  size_t end = 0;
  for (int depth = 0; end < node_list.size(); ++end) {
    if (node_list[end] == '[') ++depth;
    if (node_list[end] == ']') --depth;
    if (node_list[end] == ',' && depth == 0) break;
  }
  const std::string entry = node_list.substr(0, end);
  const size_t open = entry.find('[');
  if (open == std::string::npos) return entry;
  const size_t close = entry.find(']', open);
  if (close == std::string::npos)
    throw Error("distributed launch: SLURM_NODELIST='" + node_list + "' has an unclosed '['");
  const std::string ranges = entry.substr(open + 1, close - open - 1);
  const size_t first_end = ranges.find_first_of("-,");
  return entry.substr(0, open) + ranges.substr(0, first_end) + entry.substr(close + 1);
}

DistributedOptions distributed_options_from_slurm() {
  DistributedOptions options;
  options.world_size = env_integer("SLURM_NTASKS", 1, 1 << 20);
  options.rank = env_integer("SLURM_PROCID", 0, options.world_size - 1);
  const char* addr = std::getenv("MASTER_ADDR");
  options.master_addr = addr != nullptr && *addr != '\0'
                            ? std::string(addr)
                            : first_slurm_host(required_env("SLURM_NODELIST"));
  if (options.master_addr.empty()) throw Error("distributed launch: SLURM_NODELIST names no host");
  const char* port = std::getenv("MASTER_PORT");
  options.master_port = port != nullptr && *port != '\0'
                            ? static_cast<int>(env_integer("MASTER_PORT", 1, 65535))
                            : 29500;
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
    // The peers are awaited once, by Gloo's rendezvous through the store (waiting for them here as
    // well would make a missing peer cost twice the timeout).
    store_options.waitWorkers = false;
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
                std::to_string(options.timeout.count() / 1000) + " s: " + message_of(e) +
                " (are all " + std::to_string(options.world_size) +
                " processes started, with the same MASTER_ADDR and MASTER_PORT, and can they "
                "reach it?)");
  }
}

namespace {

/// The tensors as one buffer (c10d's list form means copies of one tensor): float64 when any
/// of them is, else float32.
torch::Tensor flatten(const std::vector<torch::Tensor>& tensors) {
  const bool any_double = std::any_of(tensors.begin(), tensors.end(), [](const auto& t) {
    return t.scalar_type() == torch::kDouble;
  });
  const torch::ScalarType type = any_double ? torch::kDouble : torch::kFloat;
  std::vector<torch::Tensor> flat;
  for (const auto& tensor : tensors)
    flat.push_back(tensor.detach().reshape({-1}).to(type));
  return torch::cat(flat);
}

/// Copies `buffer`'s consecutive slices back into `tensors`.
void unflatten(const torch::Tensor& buffer, std::vector<torch::Tensor>& tensors) {
  torch::NoGradGuard no_grad;
  int64_t offset = 0;
  for (auto& tensor : tensors) {
    const int64_t n = tensor.numel();
    tensor.copy_(buffer.slice(0, offset, offset + n).view_as(tensor));
    offset += n;
  }
}

}  // namespace

void ProcessGroup::all_reduce_sum(std::vector<torch::Tensor>& tensors) {
  if (tensors.empty()) return;
  std::vector<torch::Tensor> buffer = {flatten(tensors)};
  impl_->run("all-reduce", [&] { return impl_->group->allreduce(buffer); });
  unflatten(buffer[0], tensors);
}

void ProcessGroup::all_reduce_mean(std::vector<torch::Tensor>& tensors) {
  if (tensors.empty()) return;
  std::vector<torch::Tensor> buffer = {flatten(tensors)};
  impl_->run("all-reduce", [&] { return impl_->group->allreduce(buffer); });
  buffer[0].div_(static_cast<double>(impl_->options.world_size));
  unflatten(buffer[0], tensors);
}

std::vector<std::string> ProcessGroup::all_gather_bytes(const std::string& bytes) {
  const int64_t n = impl_->options.world_size;
  // The sizes first, then every rank's bytes padded to the largest (MMDetection's
  // collect_results_gpu).
  std::vector<torch::Tensor> size = {torch::tensor({static_cast<int64_t>(bytes.size())})};
  std::vector<std::vector<torch::Tensor>> sizes(1);
  for (int64_t r = 0; r < n; ++r)
    sizes[0].push_back(torch::zeros({1}, torch::kLong));
  impl_->run("all-gather", [&] { return impl_->group->allgather(sizes, size); });
  int64_t largest = 0;
  for (const auto& s : sizes[0])
    largest = std::max(largest, s.item<int64_t>());
  torch::Tensor padded = torch::zeros({std::max<int64_t>(largest, 1)}, torch::kUInt8);
  std::memcpy(padded.data_ptr(), bytes.data(), bytes.size());
  std::vector<torch::Tensor> mine = {padded};
  std::vector<std::vector<torch::Tensor>> all(1);
  for (int64_t r = 0; r < n; ++r)
    all[0].push_back(torch::empty_like(padded));
  impl_->run("all-gather", [&] { return impl_->group->allgather(all, mine); });
  std::vector<std::string> result;
  for (int64_t r = 0; r < n; ++r) {
    const auto* data = static_cast<const char*>(all[0][static_cast<size_t>(r)].data_ptr());
    result.emplace_back(data,
                        static_cast<size_t>(sizes[0][static_cast<size_t>(r)].item<int64_t>()));
  }
  return result;
}

std::string ProcessGroup::broadcast_bytes(const std::string& bytes, int64_t root) {
  std::vector<torch::Tensor> size = {torch::tensor({static_cast<int64_t>(bytes.size())})};
  broadcast(size, root);
  const int64_t n = size[0].item<int64_t>();
  std::vector<torch::Tensor> data = {torch::zeros({std::max<int64_t>(n, 1)}, torch::kUInt8)};
  if (rank() == root) std::memcpy(data[0].data_ptr(), bytes.data(), bytes.size());
  broadcast(data, root);
  return std::string(static_cast<const char*>(data[0].data_ptr()), static_cast<size_t>(n));
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
void ProcessGroup::all_reduce_sum(std::vector<torch::Tensor>&) {}
std::vector<std::string> ProcessGroup::all_gather_bytes(const std::string& bytes) {
  return {bytes};
}
std::string ProcessGroup::broadcast_bytes(const std::string& bytes, int64_t) {
  return bytes;
}
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
