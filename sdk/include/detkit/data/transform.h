// The transform interface (kind `transform`): one step of a data pipeline, MMDetection's
// LoadImageFromFile, Resize, RandomFlip, Normalize, Pad, DefaultFormatBundle, Collect, ...
#pragma once

#include <random>
#include <string>
#include <vector>

#include "detkit/kind.h"
#include "detkit/data/pipeline_sample.h"

namespace detkit {

/// Base class of transforms. Transforms that draw random numbers use `random_engine()`, which
/// the loader seeds per sample so that a seeded run is reproducible whatever the number of
/// worker threads.
class DETKIT_API TransformBase {
 public:
  virtual ~TransformBase();

  /// Transforms `sample` in place. Returns false to drop the sample (MMDetection's `return
  /// None`, e.g. a crop that keeps no box); the dataset then draws another one.
  virtual bool apply(PipelineSample& sample) = 0;
  /// Test-time transforms that make several versions of one image (MultiScaleFlipAug)
  /// override this; the default runs apply() and returns one sample (or none if dropped).
  virtual std::vector<PipelineSample> apply_multi(PipelineSample sample);
  /// A one-line description for logs: "Resize(img_scale=[[1333, 800]], keep_ratio=true)".
  virtual std::string repr() const;
};

/// The random engine of the calling thread (seeded by the loader for each sample).
DETKIT_API std::mt19937_64& random_engine();
/// A uniform double in [0, 1) from random_engine().
DETKIT_API double random_uniform();

}  // namespace detkit
