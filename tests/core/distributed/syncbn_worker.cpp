// A rank of sync_batch_norm_test (the test starts two): joins the group that torchrun's
// variables describe (DETKIT_DIST_TIMEOUT_MS, when set, bounds joining and every collective),
// installs it as the default group, and trains a SyncBN layer (syncbn_layer) for one step on
// its shard of syncbn_batch() with the loss sum(output * syncbn_loss_weights()), then prints
//   world <n>                              dist_world_size() while the group is installed
//   output / grad_input <values>           this rank's output and input gradient
//   grad_weight / grad_bias <values>       this rank's (local) parameter gradients
//   running_mean / running_var / num_batches_tracked <values>
//   eval_output <values>                   the output in eval mode (running statistics)
// and exits 0; on an error it prints it to stderr and exits 1. DETKIT_SYNCBN_MODE: "empty"
// gives rank 0 the whole batch and rank 1 none; "double" runs in float64 on values about 1e4.
#include <torch/torch.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>

#include "detkit/core/distributed.h"
#include "detkit/core/runtime.h"
#include "detkit/engine/dist_utils.h"
#include "syncbn_shard.h"

int main() {
  using namespace detkit::testing;
  try {
    detkit::initialize_runtime();
    detkit::DistributedOptions options = detkit::distributed_options_from_env();
    if (const char* timeout = std::getenv("DETKIT_DIST_TIMEOUT_MS"))
      options.timeout = std::chrono::milliseconds(std::atoll(timeout));
    const char* mode_env = std::getenv("DETKIT_SYNCBN_MODE");
    const std::string mode = mode_env != nullptr ? mode_env : "";
    const auto dtype = mode == "double" ? torch::kDouble : torch::kFloat;
    const double offset = mode == "double" ? 1e4 : 2.0;

    detkit::ProcessGroup group(options);
    detkit::DefaultProcessGroup scope(group);
    auto layer = syncbn_layer("SyncBN", dtype);
    layer->train();
    const int64_t rank = detkit::dist_rank();
    const torch::Tensor x =
        syncbn_shard(syncbn_batch(dtype, offset), rank, mode == "empty").clone().requires_grad_();
    const torch::Tensor weights = syncbn_shard(syncbn_loss_weights(dtype), rank, mode == "empty");
    const torch::Tensor y = layer->forward(x);
    (y * weights).sum().backward();

    std::cout << "world " << detkit::dist_world_size() << "\n";
    print_labelled("output", y);
    print_labelled("grad_input", x.grad());
    print_labelled("grad_weight", layer->named_parameters()["weight"].grad());
    print_labelled("grad_bias", layer->named_parameters()["bias"].grad());
    for (const char* name : {"running_mean", "running_var", "num_batches_tracked"})
      print_labelled(name, layer->named_buffers()[name]);
    layer->eval();
    torch::NoGradGuard no_grad;
    print_labelled("eval_output", layer->forward(x.detach()));
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
