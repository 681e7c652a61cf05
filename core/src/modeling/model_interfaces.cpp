// Key functions of the model interfaces (their vtables and typeinfo live here, once per
// process) and the ShapeSpec helpers.
#include <torch/torch.h>

#include "detkit/modeling/bbox_head.h"
#include "detkit/modeling/dense_head.h"
#include "detkit/modeling/detector.h"
#include "detkit/modeling/initializer.h"
#include "detkit/modeling/layers.h"
#include "detkit/modeling/mask_head.h"
#include "detkit/modeling/neck.h"
#include "detkit/modeling/roi_extractor.h"
#include "detkit/modeling/roi_head.h"
#include "detkit/modeling/shape_spec.h"
#include "detkit/modeling/task_modules.h"

namespace detkit {

NeckBase::~NeckBase() = default;
DenseHeadBase::~DenseHeadBase() = default;
RoIHeadBase::~RoIHeadBase() = default;
BBoxHeadBase::~BBoxHeadBase() = default;
MaskHeadBase::~MaskHeadBase() = default;
RoIExtractorBase::~RoIExtractorBase() = default;
DetectorBase::~DetectorBase() = default;
InitializerBase::~InitializerBase() = default;
NormLayerBase::~NormLayerBase() = default;
ConvLayerBase::~ConvLayerBase() = default;
ActivationLayerBase::~ActivationLayerBase() = default;
UpsampleLayerBase::~UpsampleLayerBase() = default;
IoUCalculatorBase::~IoUCalculatorBase() = default;
AnchorGeneratorBase::~AnchorGeneratorBase() = default;
AssignerBase::~AssignerBase() = default;
SamplerBase::~SamplerBase() = default;
BBoxCoderBase::~BBoxCoderBase() = default;

std::string shapes_text(const std::vector<ShapeSpec>& shapes) {
  std::string out = "[";
  for (size_t i = 0; i < shapes.size(); ++i) {
    out += (i ? ", (" : "(") + std::to_string(shapes[i].channels) + ", /" +
           std::to_string(shapes[i].stride) + ")";
  }
  return out + "]";
}

}  // namespace detkit
