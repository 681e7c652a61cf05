// CocoDataset: COCO annotation files read with simdjson (detkit/core/coco_json.h) and turned
// into per-image DataInfo as MMDetection 2.x's CocoDataset._parse_ann_info does.
#include "coco_dataset.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "dataset_utils.h"
#include "detkit/component_config.h"
#include "detkit/core/coco_json.h"

namespace detkit {

namespace {

using data_detail::format_number;

/// The dataset classes and, for each category id, its dataset label.
struct CategoryLabels {
  std::vector<std::string> classes;
  std::vector<int64_t> category_of_label;
  std::unordered_map<int64_t, int64_t> label_of_category;
};

CategoryLabels map_categories(const CocoGroundTruth& gt, const std::vector<std::string>& fixed) {
  CategoryLabels out;
  if (fixed.empty()) {
    for (const CocoCategory& category : gt.categories) {
      out.label_of_category[category.id] = static_cast<int64_t>(out.classes.size());
      out.classes.push_back(category.name);
      out.category_of_label.push_back(category.id);
    }
    return out;
  }
  out.classes = fixed;
  out.category_of_label.assign(fixed.size(), -1);
  for (const CocoCategory& category : gt.categories) {
    auto found = std::find(fixed.begin(), fixed.end(), category.name);
    if (found == fixed.end()) continue;
    const auto label = static_cast<int64_t>(found - fixed.begin());
    if (out.category_of_label[label] >= 0) {
      throw DataError(fmt::format("{}: categories: '{}' appears twice (ids {} and {})", gt.source,
                                  category.name, out.category_of_label[label], category.id));
    }
    out.category_of_label[label] = category.id;
    out.label_of_category[category.id] = label;
  }
  return out;
}

std::string describe_box(const CocoAnnotation& ann) {
  return fmt::format("[{}, {}, {}, {}]", format_number(ann.bbox[0]), format_number(ann.bbox[1]),
                     format_number(ann.bbox[2]), format_number(ann.bbox[3]));
}

}  // namespace

CocoDataset::CocoDataset(CustomDatasetOptions options, Rules rules)
    : CustomDataset(std::move(options)) {
  const CustomDatasetOptions& opts = this->options();
  CocoReadOptions read_options;
  read_options.skip_invalid = opts.skip_invalid;
  const CocoGroundTruth gt = read_coco_annotations(opts.ann_file, read_options);
  data_detail::InvalidEntries invalid(rules.type_name, opts.ann_file, opts.skip_invalid);
  invalid.add_skipped(gt.skipped_annotations, gt.warnings);

  const CategoryLabels categories = map_categories(gt, rules.fixed_classes);
  const std::vector<int64_t> selected = subset_labels(categories.classes);

  // pycocotools' imgToAnns: the annotations of each image, in file order.
  std::unordered_map<int64_t, size_t> image_index;
  image_index.reserve(gt.images.size());
  for (size_t i = 0; i < gt.images.size(); ++i)
    image_index.emplace(gt.images[i].id, i);
  std::vector<std::vector<uint32_t>> annotations_of(gt.images.size());
  for (size_t i = 0; i < gt.annotations.size(); ++i)
    annotations_of[image_index.at(gt.annotations[i].image_id)].push_back(static_cast<uint32_t>(i));

  std::vector<DataInfo> infos;
  std::vector<bool> annotated;  // MMDetection's _filter_imgs criterion, per kept image
  infos.reserve(gt.images.size());
  std::vector<float> boxes, ignored;
  std::vector<int64_t> labels;
  for (size_t i = 0; i < gt.images.size(); ++i) {
    const CocoImage& image = gt.images[i];
    if (image.width <= 0 || image.height <= 0) {
      invalid.report(fmt::format("{}: images[{}] (id {}): {} needs 'width' and 'height' > 0",
                                 opts.ann_file, i, image.id, rules.type_name));
      continue;
    }
    if (!opts.test_mode && std::min(image.width, image.height) < rules.min_size) continue;
    boxes.clear();
    ignored.clear();
    labels.clear();
    bool has_selected = false;  // an annotation of a selected class refers to this image
    bool all_crowd = true;
    for (uint32_t a : annotations_of[i]) {
      const CocoAnnotation& ann = gt.annotations[a];
      all_crowd = all_crowd && ann.iscrowd;
      const auto category = categories.label_of_category.find(ann.category_id);
      const bool selected_class =
          category != categories.label_of_category.end() && selected[category->second] >= 0;
      if (ann.ignore) {  // MMDetection skips it entirely (yet it keeps the image in training)
        has_selected = has_selected || selected_class;
        continue;
      }
      const auto [x, y, w, h] = ann.bbox;
      const float xyxy[4] = {float(x), float(y), float(x + w), float(y + h)};
      if (!std::all_of(xyxy, xyxy + 4, [](float v) { return std::isfinite(v); })) {
        invalid.report(
            fmt::format("{}: annotation id {} (image id {}): bbox {} is beyond the "
                        "range of a float",
                        opts.ann_file, ann.id, ann.image_id, describe_box(ann)));
        continue;
      }
      if (!data_detail::overlaps_image(x, y, x + w, y + h, image.width, image.height)) {
        invalid.report(fmt::format(
            "{}: annotation id {} (image id {}): bbox {} lies outside the {}x{} image",
            opts.ann_file, ann.id, ann.image_id, describe_box(ann), image.width, image.height));
        continue;
      }
      has_selected = has_selected || selected_class;
      // MMDetection skips these silently.
      if (ann.area <= 0 || w < 1 || h < 1) continue;
      if (!selected_class) continue;
      if (ann.iscrowd) {
        ignored.insert(ignored.end(), xyxy, xyxy + 4);
      } else {
        boxes.insert(boxes.end(), xyxy, xyxy + 4);
        labels.push_back(category->second);
      }
    }
    DataInfo info;
    info.filename = image.file_name;
    info.image_id = image.id;
    info.width = image.width;
    info.height = image.height;
    info.gt = data_detail::make_instances(boxes, labels);
    info.gt_ignore = data_detail::make_boxes(ignored);
    infos.push_back(std::move(info));
    annotated.push_back(has_selected && !(rules.drop_crowd_only && all_crowd));
  }
  invalid.print_summary();

  const size_t num_classes = opts.classes.empty() ? categories.classes.size() : opts.classes.size();
  category_ids_.assign(num_classes, -1);
  for (size_t label = 0; label < selected.size(); ++label) {
    if (selected[label] >= 0) category_ids_[selected[label]] = categories.category_of_label[label];
  }
  set_data(std::move(infos), categories.classes, annotated);
}

Schema CocoDataset::schema() {
  Schema schema = base_schema(
      "COCO-format annotation file (MMDetection's CocoDataset): categories become labels in "
      "file order (or the order of `classes`), crowd boxes become gt_bboxes_ignore, `ignore: 1` "
      "annotations are skipped.");
  schema.add<double>("min_size", 32.0, "in training, drop images whose shorter side is smaller")
      .min(0);
  return schema;
}

std::shared_ptr<CocoDataset> CocoDataset::create(const ComponentConfig& cfg) {
  Rules rules;
  rules.min_size = cfg.get<double>("min_size");
  return std::make_shared<CocoDataset>(CustomDatasetOptions::from_config(cfg), std::move(rules));
}

DETKIT_REGISTER(dataset, CocoDataset);

}  // namespace detkit
