// Running a trained detector on image files (`detkit infer`): the config's test pipeline, the
// model, and the results as JSON and as a drawing.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "detkit/checkpoint.h"
#include "detkit/config_node.h"
#include "detkit/data/dataset.h"
#include "detkit/modeling/detector.h"

namespace cv {
class Mat;
}

namespace detkit {

/// One detection in original-image pixels.
struct DETKIT_API Detection {
  /// x1, y1, x2, y2.
  std::array<float, 4> bbox{};
  float score = 0.0F;
  int64_t label = 0;
  /// The class name of `label` ("class_<label>" when the names are unknown).
  std::string class_name;
};

/// The class names a model predicts, from the first source that has them: the checkpoint's
/// `meta.CLASSES` (what MMDetection stores), then the config's `data.test.classes`. Empty when
/// neither says (the detector then decides its number of classes from its config).
DETKIT_API std::vector<std::string> class_names_from(const ConfigNode& config,
                                                     const ConfigNode* checkpoint_meta);

/// Builds the config's `model` (kind `detector`) with the class names as its DetectorContext
/// (when known: a head's `num_classes` must agree with them).
DETKIT_API std::shared_ptr<DetectorBase> build_detector(const ConfigNode& config,
                                                        const std::vector<std::string>& classes);

/// The device named `name` for inference: "cpu", or "cuda" / "cuda:N" when LibTorch has CUDA
/// and sees a device. Throws Error saying why otherwise (a CPU-only LibTorch, no GPU visible, an
/// unknown name).
DETKIT_API torch::Device inference_device(const std::string& name);

/// Loads a checkpoint's weights into a detector to test or run it: every tensor of the model
/// must come from the checkpoint with its shape, else CheckpointError naming `path` and
/// summarising the missing, mismatched and unexpected keys (a few names of each, with counts:
/// a checkpoint of another architecture lists hundreds). Checkpoint tensors the model lacks
/// alone (e.g. EMA copies) are allowed: the returned report lists them for a warning.
DETKIT_API LoadReport load_detector_weights(DetectorBase& model, const Checkpoint& checkpoint,
                                            const std::string& path);

/// The predictions of one image as detections, sorted by decreasing score, those below
/// `score_thr` left out; class names from `classes` ("class_<label>" past its end).
DETKIT_API std::vector<Detection> to_detections(const Instances& predictions,
                                                const std::vector<std::string>& classes,
                                                double score_thr);

/// A detector ready for inference: the config's test pipeline and the model with the
/// checkpoint's weights, in eval mode.
class DETKIT_API Inferencer {
 public:
  /// Builds the model of `config` on `device`, loads `checkpoint` (load_detector_weights), and
  /// the pipeline of `data.test.pipeline`.
  Inferencer(const ConfigNode& config, const std::string& checkpoint,
             const torch::Device& device = torch::kCPU);

  /// Detections on one image file, sorted by decreasing score, those below `score_thr` left
  /// out. Throws DataError when the file cannot be read as an image.
  std::vector<Detection> run(const std::string& image_path, double score_thr) const;

  /// Class names, index = label.
  const std::vector<std::string>& classes() const { return classes_; }
  /// The model (eval mode).
  const std::shared_ptr<DetectorBase>& model() const { return model_; }
  /// What loading the checkpoint reported (unexpected keys, for a warning).
  const LoadReport& load_report() const { return load_report_; }

 private:
  std::shared_ptr<DetectorBase> model_;
  torch::Device device_ = torch::kCPU;
  LoadReport load_report_;
  Pipeline pipeline_;
  std::vector<std::string> classes_;
};

/// The JSON `detkit infer` writes per image: a list of {"bbox": [x1, y1, x2, y2], "score": s,
/// "label": l, "class": name}, in the order given.
DETKIT_API std::string format_detections_json(const std::vector<Detection>& detections);

/// Draws the detections on a BGR uint8 image in place: a box in one colour per class and a
/// filled label "name 0.87" kept inside the image, in a font scaled to the image size.
DETKIT_API void draw_detections(cv::Mat& image, const std::vector<Detection>& detections);

/// Writes `image` to `path` (the encoder chosen by its extension) under a temporary name in the
/// same folder, then renames it: a kill never leaves a half-written picture. Throws Error when
/// it cannot.
DETKIT_API void write_image_atomically(const std::string& path, const cv::Mat& image);

/// The colour (B, G, R) of class `label`: well-separated hues, the same in every run.
DETKIT_API std::array<int, 3> class_color(int64_t label);

}  // namespace detkit
