// The element-wise math of the fused sigmoid focal loss, shared by its CPU kernel
// (focal_loss_kernel.cpp) and its CUDA kernel (focal_loss_kernel.cu).
//
// Written with plain arithmetic and selects between values computed on both sides (no branches,
// no std:: calls), so that the CPU loops vectorise and the same code compiles for the device.
#pragma once

#ifdef __CUDACC__
#define DETKIT_FOCAL_HOST_DEVICE __host__ __device__
#else
#define DETKIT_FOCAL_HOST_DEVICE
#endif

namespace detkit::losses {

/// sigmoid(x) from e = exp(-|x|), without overflow.
template <typename T>
DETKIT_FOCAL_HOST_DEVICE inline T sigmoid_from(T x, T e) {
  const T inv = T(1) / (T(1) + e);
  const T e_inv = e * inv;
  return x >= T(0) ? inv : e_inv;
}

/// pt = 1 - p_t of MMDetection's py_sigmoid_focal_loss: the probability of the wrong answer.
template <typename T>
DETKIT_FOCAL_HOST_DEVICE inline T wrong_probability(T p, T t) {
  return (T(1) - p) * t + p * (T(1) - t);
}

/// The focal loss of one element and, with kWithGrad, its derivative by x. `e` = exp(-|x|),
/// `l` = log1p(e), `t` the target; `pt_pow` = pt^gamma unless kGammaTwo (then pt * pt).
template <typename T, bool kGammaTwo, bool kWithGrad>
DETKIT_FOCAL_HOST_DEVICE inline void focal_element(T x, T e, T l, T t, T pt_pow, T gamma, T alpha,
                                                   T& loss, T& grad) {
  const T p = sigmoid_from(x, e);
  const T positive_x = x > T(0) ? x : T(0);
  const T bce = positive_x - x * t + l;  // binary_cross_entropy_with_logits
  const T pt = wrong_probability(p, t);
  const T alpha_t = alpha * t + (T(1) - alpha) * (T(1) - t);
  const T w = kGammaTwo ? pt * pt : pt_pow;
  loss = bce * alpha_t * w;
  if (kWithGrad) {
    // d pt^gamma / d pt. pt = 0 only where p is exactly 0 or 1, where d pt / dx = 0 as well
    // (the composed formula gives 0 * inf = NaN there for gamma < 1).
    T dw;
    if (kGammaTwo) {
      dw = T(2) * pt;
    } else {
      const T ratio = gamma * w / (pt > T(0) ? pt : T(1));
      dw = pt > T(0) ? ratio : T(0);
    }
    // d bce / dx = p - t; d pt / dx = p (1 - p) (1 - 2 t).
    grad = alpha_t * ((p - t) * w + bce * dw * p * (T(1) - p) * (T(1) - T(2) * t));
  }
}

}  // namespace detkit::losses
