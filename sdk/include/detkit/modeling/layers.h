// The layer interfaces that `norm_cfg`, `conv_cfg`, `act_cfg` and `upsample_cfg` name (MMCV's
// NORM_LAYERS, CONV_LAYERS, ACTIVATION_LAYERS and UPSAMPLE_LAYERS registries), so a plugin can
// add a norm layer or a convolution that every ConvModule then accepts, and MMCV's builders
// over them.
//
// Contract: each is a module mapping one (N, C, H, W) tensor to one tensor, built with the
// context MMCV passes positionally (a norm layer its number of features, a convolution its
// channels and geometry, an upsampling layer its channels). Layers register their parameters
// and buffers directly (a BN layer's `weight`, `bias`, `running_mean`, ...), so that a
// ConvModule's child `bn` has MMDetection's parameter names, and answer MMCV's class names
// (MmcvNamed: "BatchNorm2d" with base "_BatchNorm", "Conv2d", ...) so that `layer` matching in
// init_cfg selects them as it selects PyTorch's layers.
//
// Built-ins (libdetkit): norm BN, BN1d, BN2d, BN3d, SyncBN (training in a distributed run:
// batch statistics over all ranks, detkit/engine/dist_utils.h; plain BN in eval mode or on one
// process), GN, LN, IN, IN1d, IN2d, IN3d; conv Conv2d, Conv; activation ReLU, LeakyReLU, PReLU,
// ReLU6, ELU, Sigmoid, Tanh, GELU, SiLU, Clamp (also "Clip"); upsample nearest, bilinear, deconv.
#pragma once

#include <torch/nn/module.h>

#include <memory>
#include <string>
#include <utility>

#include "detkit/build_context.h"
#include "detkit/config_node.h"
#include "detkit/kind.h"
#include "detkit/modeling/base_module.h"

namespace detkit {

/// Base class of normalisation layers (kind `norm_layer`: BN, GN, SyncBN, LN, IN).
class DETKIT_API NormLayerBase : public torch::nn::Module, public MmcvNamed {
 public:
  ~NormLayerBase() override;
  virtual torch::Tensor forward(const torch::Tensor& input) = 0;
  /// MMCV's abbreviation, used to name the child: "bn", "gn", "ln", "in".
  virtual std::string abbreviation() const = 0;
};

/// Base class of convolution layers (kind `conv_layer`: Conv2d, Conv, ...).
class DETKIT_API ConvLayerBase : public torch::nn::Module, public MmcvNamed {
 public:
  ~ConvLayerBase() override;
  virtual torch::Tensor forward(const torch::Tensor& input) = 0;
};

/// Base class of activation layers (kind `activation_layer`: ReLU, LeakyReLU, Sigmoid, ...).
class DETKIT_API ActivationLayerBase : public torch::nn::Module, public MmcvNamed {
 public:
  ~ActivationLayerBase() override;
  virtual torch::Tensor forward(const torch::Tensor& input) = 0;
};

/// Base class of upsampling layers (kind `upsample_layer`: nearest, bilinear, deconv, ...).
class DETKIT_API UpsampleLayerBase : public torch::nn::Module, public MmcvNamed {
 public:
  ~UpsampleLayerBase() override;
  /// Upsamples `input`; `size`, when not empty, is the (H, W) to reach instead of the factor.
  virtual torch::Tensor forward(const torch::Tensor& input, at::IntArrayRef size = {}) = 0;
};

/// MMCV's build_norm_layer(cfg, num_features, postfix): the layer `cfg` names (`{type: BN,
/// requires_grad: true}`), and the name to register it under — its abbreviation followed by
/// `postfix` ("bn1", "gn"). `path` names the config in error messages.
DETKIT_API std::pair<std::string, std::shared_ptr<NormLayerBase>> build_norm_layer(
    const ConfigNode& cfg, int64_t num_features, const std::string& postfix = "",
    const std::string& path = "norm_cfg");
/// build_norm_layer with a numeric postfix: ("bn1", layer) for postfix 1.
DETKIT_API std::pair<std::string, std::shared_ptr<NormLayerBase>> build_norm_layer(
    const ConfigNode& cfg, int64_t num_features, int64_t postfix,
    const std::string& path = "norm_cfg");
/// MMCV's build_conv_layer(cfg, in, out, kernel, ...): a null `cfg` is `{type: Conv2d}`.
DETKIT_API std::shared_ptr<ConvLayerBase> build_conv_layer(const ConfigNode& cfg,
                                                           const ConvLayerContext& context,
                                                           const std::string& path = "conv_cfg");
/// MMCV's build_activation_layer(cfg): `{type: ReLU, inplace: true}`.
DETKIT_API std::shared_ptr<ActivationLayerBase> build_activation_layer(
    const ConfigNode& cfg, const std::string& path = "act_cfg");
/// MMCV's build_upsample_layer(cfg, ...): `{type: nearest, scale_factor: 2}`, `{type: deconv,
/// scale_factor: 2}` (with the channels from `context`).
DETKIT_API std::shared_ptr<UpsampleLayerBase> build_upsample_layer(
    const ConfigNode& cfg, const UpsampleLayerContext& context,
    const std::string& path = "upsample_cfg");

}  // namespace detkit
