// CUDA kernel of detkit::nms (compiled only when LibTorch has CUDA: DETKIT_WITH_CUDA). The
// classic two-step GPU NMS: a kernel writes, for every box in score order, a bit mask of the
// later boxes it suppresses (IoU > threshold), 64 boxes per word; the host then walks the boxes
// in order and ORs the masks of the ones it keeps. Same sort and comparison as the CPU kernel.
#include <ATen/ATen.h>
#include <ATen/AccumulateType.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <vector>

namespace detkit::ops {
namespace {

constexpr int kBoxesPerWord = 64;  // bits of one mask word; also the threads of one block

/// Products rounded on their own: nvcc would otherwise fuse `x + a * b` into one fma and round
/// differently from the CPU kernel.
__device__ inline float mul_rn(float a, float b) {
  return __fmul_rn(a, b);
}
__device__ inline double mul_rn(double a, double b) {
  return __dmul_rn(a, b);
}

/// IoU of two xyxy boxes > threshold, computed as the CPU kernel computes it (half boxes in
/// float).
template <typename T>
__device__ inline bool suppresses(const T* a, const T* b, double iou_threshold) {
  using acc_t = at::acc_type<T, /*is_cuda=*/true>;
  const acc_t w = max(acc_t(0), min(acc_t(a[2]), acc_t(b[2])) - max(acc_t(a[0]), acc_t(b[0])));
  const acc_t h = max(acc_t(0), min(acc_t(a[3]), acc_t(b[3])) - max(acc_t(a[1]), acc_t(b[1])));
  const acc_t inter = mul_rn(w, h);
  const acc_t area_a = mul_rn(acc_t(a[2]) - acc_t(a[0]), acc_t(a[3]) - acc_t(a[1]));
  const acc_t area_b = mul_rn(acc_t(b[2]) - acc_t(b[0]), acc_t(b[3]) - acc_t(b[1]));
  return inter / (area_a + area_b - inter) > iou_threshold;
}

/// Block (row, col) compares the 64 boxes of row block `row` with those of column block `col`
/// (boxes already in score order) and writes one 64-bit mask per row box.
template <typename T>
__global__ void nms_mask_kernel(int64_t n, double iou_threshold, const T* boxes,
                                unsigned long long* mask) {
  const int64_t row = blockIdx.y, col = blockIdx.x;
  if (row > col) return;  // a box never suppresses an earlier one
  const int64_t rows_left = n - row * kBoxesPerWord, cols_left = n - col * kBoxesPerWord;
  const int rows = rows_left < kBoxesPerWord ? static_cast<int>(rows_left) : kBoxesPerWord;
  const int cols = cols_left < kBoxesPerWord ? static_cast<int>(cols_left) : kBoxesPerWord;

  __shared__ T block_boxes[kBoxesPerWord * 4];
  if (threadIdx.x < cols) {
    for (int c = 0; c < 4; ++c)
      block_boxes[threadIdx.x * 4 + c] = boxes[(col * kBoxesPerWord + threadIdx.x) * 4 + c];
  }
  __syncthreads();
  if (threadIdx.x >= rows) return;

  const int64_t i = row * kBoxesPerWord + threadIdx.x;
  const T* box = boxes + i * 4;
  unsigned long long bits = 0;
  for (int k = (row == col ? threadIdx.x + 1 : 0); k < cols; ++k) {
    if (suppresses(box, block_boxes + k * 4, iou_threshold)) bits |= 1ULL << k;
  }
  const int64_t words = (n + kBoxesPerWord - 1) / kBoxesPerWord;
  mask[i * words + col] = bits;
}

/// The registered CUDA kernel (inputs already validated by detkit::ops::nms).
at::Tensor nms_cuda(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold) {
  TORCH_CHECK(boxes.is_cuda() && scores.is_cuda(), "nms: boxes and scores must be CUDA tensors");
  TORCH_CHECK(boxes.dim() == 2 && boxes.size(1) == 4, "nms: boxes must be (N, 4), got ",
              boxes.sizes());
  TORCH_CHECK(scores.dim() == 1 && scores.size(0) == boxes.size(0),
              "nms: scores must be (N,), got ", scores.sizes(), " for ", boxes.size(0), " boxes");
  const int64_t n = boxes.size(0);
  if (n == 0) return at::empty({0}, boxes.options().dtype(at::kLong));
  c10::cuda::CUDAGuard device_guard(boxes.device());

  // Stable, as the CPU kernel: tied boxes are visited in index order on every device.
  const at::Tensor order =
      std::get<1>(scores.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
  const at::Tensor sorted = boxes.index_select(0, order).contiguous();
  const int64_t words = (n + kBoxesPerWord - 1) / kBoxesPerWord;
  at::Tensor mask = at::empty({n * words}, boxes.options().dtype(at::kLong));

  const dim3 blocks(static_cast<unsigned>(words), static_cast<unsigned>(words));
  const dim3 threads(kBoxesPerWord);
  cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND_HALF(sorted.scalar_type(), "nms_cuda", [&] {
    nms_mask_kernel<scalar_t><<<blocks, threads, 0, stream>>>(
        n, iou_threshold, sorted.data_ptr<scalar_t>(),
        reinterpret_cast<unsigned long long*>(mask.data_ptr<int64_t>()));
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();

  // Host walk: keep a box unless an earlier kept box suppressed it.
  const at::Tensor mask_cpu = mask.to(at::kCPU);
  const auto* bits = reinterpret_cast<const unsigned long long*>(mask_cpu.data_ptr<int64_t>());
  std::vector<unsigned long long> removed(words, 0);
  at::Tensor keep = at::empty({n}, boxes.options().dtype(at::kLong).device(at::kCPU));
  int64_t* kept = keep.data_ptr<int64_t>();
  int64_t num_kept = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t word = i / kBoxesPerWord, bit = i % kBoxesPerWord;
    if (removed[word] & (1ULL << bit)) continue;
    kept[num_kept++] = i;
    const unsigned long long* row = bits + i * words;
    for (int64_t w = word; w < words; ++w)
      removed[w] |= row[w];
  }
  const at::Tensor positions =
      keep.narrow(0, 0, num_kept).to(order.device(), /*non_blocking=*/true);
  return order.index_select(0, positions);
}

}  // namespace
}  // namespace detkit::ops

TORCH_LIBRARY_IMPL(detkit, CUDA, m) {
  m.impl("nms", TORCH_FN(detkit::ops::nms_cuda));
}
