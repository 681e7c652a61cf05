// A rank of the distributed tests (distributed_test.cpp starts several): joins the group that
// torchrun's variables describe (DETKIT_DIST_TIMEOUT_MS, when set, bounds joining and every
// collective), then prints what each collective gives:
//   mean <values>        all_reduce_mean of [rank + 1] * 3 and of arange(4) * (rank + 1)
//   broadcast <values>   rank 0's [10, 11] after broadcast
// and exits 0; on an error it prints it to stderr and exits 1. With DETKIT_DIST_MODE=grad it
// instead trains one step of shard_model() (rank 1 perturbs its copy first: the broadcast
// undoes it) on shard_batch(rank), averages the gradients in buckets of 16 bytes, and prints
//   grad <values>        the averaged gradients, parameter by parameter
//   weights <values>     the parameters after an SGD step of lr 0.1
#include <torch/torch.h>

#include <cstdlib>
#include <iostream>

#include "detkit/core/distributed.h"
#include "dist_shard.h"

int main() {
  try {
    detkit::DistributedOptions options = detkit::distributed_options_from_env();
    if (const char* timeout = std::getenv("DETKIT_DIST_TIMEOUT_MS"))
      options.timeout = std::chrono::milliseconds(std::atoll(timeout));
    detkit::ProcessGroup group(options);
    const char* mode = std::getenv("DETKIT_DIST_MODE");
    if (mode != nullptr && std::string(mode) == "grad") {
      torch::nn::Linear model = shard_model();
      if (group.rank() == 1) {
        torch::NoGradGuard no_grad;
        for (auto& p : model->parameters())
          p.add_(1.0);
      }
      detkit::broadcast_parameters(*model, group);
      const auto [x, y] = shard_batch(group.rank());
      torch::mse_loss(model(x), y).backward();
      detkit::average_gradients(*model, group, 16);
      std::cout << "grad";
      for (const auto& p : model->parameters())
        print_values(p.grad());
      torch::optim::SGD(model->parameters(), 0.1).step();
      std::cout << "\nweights";
      for (const auto& p : model->parameters())
        print_values(p);
      std::cout << "\n";
      return 0;
    }
    const auto r = static_cast<double>(group.rank());
    std::vector<torch::Tensor> tensors = {torch::full({3}, r + 1),
                                          torch::arange(4, torch::kFloat) * (r + 1)};
    group.all_reduce_mean(tensors);
    std::vector<torch::Tensor> shared = {r == 0 ? torch::tensor({10.f, 11.f}) : torch::zeros({2})};
    group.broadcast(shared, 0);
    group.barrier();
    std::cout << "mean";
    for (const auto& t : tensors)
      for (int64_t i = 0; i < t.numel(); ++i)
        std::cout << " " << t[i].item<double>();
    std::cout << "\nbroadcast " << shared[0][0].item<double>() << " " << shared[0][1].item<double>()
              << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
