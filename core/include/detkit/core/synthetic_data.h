// A synthetic COCO-format detection dataset (`detkit data synth`): images of filled and outlined
// shapes, one shape kind per class, on textured backgrounds, with tight boxes. The demo and the
// integration tests train on it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "detkit/export.h"

namespace detkit {

/// What to generate.
struct SyntheticDatasetOptions {
  /// Output folder: annotations/{train,val}.json, train/, val/.
  std::string out_dir;
  int64_t num_train = 100;
  int64_t num_val = 20;
  /// Number of classes, 1..max_synthetic_classes(); class k is one shape kind.
  int num_classes = 3;
  /// Same seed, same options: byte-identical files.
  uint64_t seed = 0;
  int image_width = 320;
  int image_height = 240;
  /// Worker threads (0 = the machine's cores); the output does not depend on it.
  int threads = 0;
  /// Write into an out_dir that holds files already (same-named ones are replaced); without it
  /// such a folder (perhaps a user's dataset) is refused.
  bool overwrite = false;
  /// Called after each image with the split name, the images done and the split's total.
  std::function<void(const std::string& split, int64_t done, int64_t total)> progress;
};

/// What was written.
struct SyntheticDatasetSummary {
  /// The COCO files and image folders, per split (train, val).
  std::string train_json, val_json, train_dir, val_dir;
  int64_t train_images = 0, val_images = 0;
  int64_t train_objects = 0, val_objects = 0;
  /// Category names and their (non-contiguous) COCO ids, in label order.
  std::vector<std::string> class_names;
  std::vector<int64_t> category_ids;
};

/// The largest supported number of classes.
DETKIT_API int max_synthetic_classes();

/// The class (shape) names of a K-class synthetic dataset, in label order.
DETKIT_API std::vector<std::string> synthetic_class_names(int num_classes);

/// Generates the dataset. Throws Error on bad options, a non-empty out_dir without `overwrite`,
/// or when a file cannot be written.
DETKIT_API SyntheticDatasetSummary
generate_synthetic_dataset(const SyntheticDatasetOptions& options);

}  // namespace detkit
