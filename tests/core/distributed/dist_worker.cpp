// A rank of the distributed tests (distributed_test.cpp starts several): joins the group that
// torchrun's variables describe (DETKIT_DIST_TIMEOUT_MS, when set, bounds joining and every
// collective), then prints what each collective gives:
//   mean <values>        all_reduce_mean of [rank + 1] * 3 and of arange(4) * (rank + 1)
//   broadcast <values>   rank 0's [10, 11] after broadcast
// and exits 0; on an error it prints it to stderr and exits 1.
#include <torch/torch.h>

#include <cstdlib>
#include <iostream>

#include "detkit/core/distributed.h"

int main() {
  try {
    detkit::DistributedOptions options = detkit::distributed_options_from_env();
    if (const char* timeout = std::getenv("DETKIT_DIST_TIMEOUT_MS"))
      options.timeout = std::chrono::milliseconds(std::atoll(timeout));
    detkit::ProcessGroup group(options);
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
