// XMLDataset: VOC-style XML annotations read with pugixml, MMDetection 2.x's xml_style.py
// semantics; every problem names the XML file (with its line) and the object.
#include "xml_dataset.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <opencv2/imgcodecs.hpp>
#include <pugixml.hpp>
#include <sstream>
#include <tuple>
#include <unordered_map>

#include "dataset_utils.h"
#include "detkit/component_config.h"
#include "detkit/core/file_io.h"
#include "detkit/core/text.h"

namespace detkit {

namespace {

using data_detail::InvalidEntries;

std::string trim(const char* text) {
  std::string s = text;
  const auto begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return {};
  return s.substr(begin, s.find_last_not_of(" \t\r\n") - begin + 1);
}

/// One XML file in memory, for messages with line numbers.
struct XmlFile {
  std::string path;
  std::string text;
  pugi::xml_document document;

  /// "path:line" of a node (just the path when the line is unknown).
  std::string where(const pugi::xml_node& node) const {
    const ptrdiff_t offset = node.offset_debug();
    if (offset < 0 || size_t(offset) > text.size()) return path;
    return fmt::format("{}:{}", path, 1 + std::count(text.begin(), text.begin() + offset, '\n'));
  }
};

void load_xml(XmlFile& file, const std::string& image_id, const std::string& ann_file) {
  if (const std::string problem = input_file_problem(file.path); !problem.empty()) {
    throw DataError(fmt::format("{}: the annotation of image id '{}' listed in {} {}", file.path,
                                image_id, ann_file, problem));
  }
  std::ifstream in(file.path, std::ios::binary);
  if (!in) {
    throw DataError(fmt::format("{}: cannot open the annotation of image id '{}' listed in {} ({})",
                                file.path, image_id, ann_file, std::strerror(errno)));
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  file.text = buffer.str();
  const pugi::xml_parse_result result =
      file.document.load_buffer(file.text.data(), file.text.size());
  if (!result) {
    const size_t offset = std::min(size_t(std::max<ptrdiff_t>(result.offset, 0)), file.text.size());
    const auto line = 1 + std::count(file.text.begin(), file.text.begin() + offset, '\n');
    throw DataError(fmt::format("{}:{}: invalid XML: {}", file.path, line, result.description()));
  }
  if (!file.document.document_element())
    throw DataError(fmt::format("{}: invalid XML: no root element", file.path));
}

/// The number in a child element's text, or nullopt with the problem in `problem`.
std::optional<double> read_number(const XmlFile& file, const pugi::xml_node& parent,
                                  const char* name, std::string& problem) {
  const pugi::xml_node child = parent.child(name);
  if (!child) {
    problem = fmt::format("{}: missing <{}> in <{}>", file.where(parent), name, parent.name());
    return std::nullopt;
  }
  const std::string text = trim(child.text().get());
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(value)) {
    problem = fmt::format("{}: <{}> must be a number, got '{}'", file.where(child), name, text);
    return std::nullopt;
  }
  return value;
}

/// The largest coordinate or image side accepted (int32, as the images' own sizes).
constexpr double kMaxVocSize = 2147483647.0;

/// <width> or <height> of <size>: a whole number of pixels from 1 to kMaxVocSize (MMDetection
/// reads them with int(), which rejects '0.5' and '1e300').
int64_t read_side(const XmlFile& file, const pugi::xml_node& size, const char* name) {
  std::string problem;
  const auto value = read_number(file, size, name, problem);
  if (!value) throw DataError(problem);
  if (!(*value >= 1 && *value <= kMaxVocSize) || *value != std::floor(*value)) {
    throw DataError(fmt::format("{}: <{}> must be a whole number of pixels from 1 to {}, got '{}'",
                                file.where(size.child(name)), name, int64_t(kMaxVocSize),
                                trim(size.child(name).text().get())));
  }
  return static_cast<int64_t>(*value);
}

/// Width and height from <size>, or from the image itself when the XML has none (as MMDetection).
std::pair<int64_t, int64_t> image_size(const XmlFile& file, const pugi::xml_node& root,
                                       const std::string& image_path) {
  const pugi::xml_node size = root.child("size");
  if (!size) {
    const cv::Mat image = cv::imread(image_path, cv::IMREAD_UNCHANGED);
    if (image.empty()) {
      throw DataError(fmt::format("{}: no <size>, and the image {} cannot be read for its size",
                                  file.path, image_path));
    }
    return {image.cols, image.rows};
  }
  const int64_t width = read_side(file, size, "width");
  return {width, read_side(file, size, "height")};
}

/// One summary line for the objects skipped because their class is not selected (MMDetection
/// skips them silently), most frequent names first.
void print_skipped_classes(const std::string& type_name, const std::string& ann_file,
                           const std::unordered_map<std::string, size_t>& skipped, bool subset) {
  if (skipped.empty()) return;
  std::vector<std::pair<std::string, size_t>> counts(skipped.begin(), skipped.end());
  std::sort(counts.begin(), counts.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  size_t total = 0;
  std::vector<std::string> names;
  for (const auto& [name, count] : counts) {
    total += count;
    if (names.size() < 8) names.push_back(fmt::format("'{}' ({})", name, count));
  }
  if (counts.size() > names.size()) names.push_back("...");
  std::cerr << fmt::format(
      "warning: {}: skipped {} object{} of {} in {}: {}\n", type_name, total, total == 1 ? "" : "s",
      subset ? "classes not in `classes`" : "unknown classes", ann_file, join(names, ", "));
}

}  // namespace

XMLDataset::XMLDataset(CustomDatasetOptions options, Layout layout)
    : CustomDataset(std::move(options)) {
  const CustomDatasetOptions& opts = this->options();
  if (layout.min_size && opts.test_mode) {
    throw ConfigError(layout.type_name +
                      ": min_size ignores small boxes in training and cannot "
                      "be used with test_mode (as in MMDetection)");
  }
  const std::vector<std::string> ids = data_detail::read_lines(opts.ann_file, "image id list");
  std::unordered_map<std::string, int64_t> label_of;
  for (size_t i = 0; i < layout.classes.size(); ++i)
    label_of[layout.classes[i]] = int64_t(i);
  const std::vector<int64_t> selected = subset_labels(layout.classes);
  const std::string ann_dir = data_detail::join_path(opts.img_prefix, layout.ann_subdir);
  InvalidEntries invalid(layout.type_name, opts.ann_file, opts.skip_invalid);

  std::vector<DataInfo> infos;
  std::vector<bool> annotated;  // MMDetection's _filter_imgs criterion, per kept image
  std::unordered_map<std::string, size_t> skipped_classes;  // objects per unselected name
  std::vector<float> boxes, ignored;
  std::vector<int64_t> ignored_labels;
  std::vector<int64_t> labels;
  for (size_t index = 0; index < ids.size(); ++index) {
    const std::string& id = ids[index];
    XmlFile file;
    file.path = data_detail::join_path(ann_dir, id + ".xml");
    load_xml(file, id, opts.ann_file);
    const pugi::xml_node root = file.document.document_element();
    DataInfo info;
    if (layout.filename_from_folder) {
      const std::string folder = trim(root.child("folder").text().get());
      if (folder.empty())
        throw DataError(fmt::format("{}: missing <folder> (the image's sub-folder)", file.path));
      info.filename = data_detail::join_path(folder, id + ".jpg");
    } else {
      info.filename = data_detail::join_path(layout.img_subdir, id + ".jpg");
    }
    std::tie(info.width, info.height) =
        image_size(file, root, data_detail::join_path(opts.img_prefix, info.filename));
    const bool numeric =
        std::all_of(id.begin(), id.end(), [](char c) { return c >= '0' && c <= '9'; });
    info.image_id = numeric && id.size() < 18 ? std::stoll(id) : int64_t(index);

    boxes.clear();
    ignored.clear();
    ignored_labels.clear();
    labels.clear();
    bool has_selected = false;
    int object_index = -1;
    for (const pugi::xml_node object : root.children("object")) {
      ++object_index;
      const std::string what = fmt::format("object {} (image id '{}')", object_index, id);
      const pugi::xml_node name_node = object.child("name");
      if (!name_node) {
        invalid.report(fmt::format("{}: {}: missing <name>", file.where(object), what));
        continue;
      }
      const std::string name = trim(name_node.text().get());
      const auto found = label_of.find(name);
      if (found == label_of.end() || selected[found->second] < 0) {
        ++skipped_classes[name];  // not a selected class: MMDetection skips the object
        continue;
      }
      std::string problem;
      bool difficult = false;
      if (object.child("difficult")) {
        const auto value = read_number(file, object, "difficult", problem);
        if (!value) {
          invalid.report(problem + " in " + what);
          continue;
        }
        difficult = *value != 0;
      }
      const pugi::xml_node box = object.child("bndbox");
      if (!box) {
        invalid.report(fmt::format("{}: {}: missing <bndbox>", file.where(object), what));
        continue;
      }
      double xyxy[4];
      const char* keys[4] = {"xmin", "ymin", "xmax", "ymax"};
      bool ok = true;
      for (int k = 0; k < 4 && ok; ++k) {
        const auto value = read_number(file, box, keys[k], problem);
        ok = value.has_value();
        if (ok && !(std::fabs(*value) <= kMaxVocSize)) {
          problem = fmt::format("{}: <{}> must be a number from {} to {}, got '{}'",
                                file.where(box.child(keys[k])), keys[k], -int64_t(kMaxVocSize),
                                int64_t(kMaxVocSize), trim(box.child(keys[k]).text().get()));
          ok = false;
        }
        // MMDetection: int(float(text)) - 1 (VOC coordinates are 1-based pixels).
        if (ok) xyxy[k] = std::trunc(*value) - 1;
      }
      if (!ok) {
        invalid.report(problem + " in " + what);
        continue;
      }
      const double w = xyxy[2] - xyxy[0], h = xyxy[3] - xyxy[1];
      if (w <= 0 || h <= 0) {
        invalid.report(fmt::format("{}: {}: box width and height must be > 0, got w={} h={}",
                                   file.where(box), what, w, h));
        continue;
      }
      if (!data_detail::overlaps_image(xyxy[0], xyxy[1], xyxy[2], xyxy[3], info.width,
                                       info.height)) {
        invalid.report(fmt::format("{}: {}: box [{}, {}, {}, {}] lies outside the {}x{} image",
                                   file.where(box), what, xyxy[0] + 1, xyxy[1] + 1, xyxy[2] + 1,
                                   xyxy[3] + 1, info.width, info.height));
        continue;
      }
      // MMDetection's XMLDataset._filter_imgs keeps an image with any object of a selected
      // class, difficult or not.
      has_selected = true;
      const bool too_small = layout.min_size && (w < *layout.min_size || h < *layout.min_size);
      std::vector<float>& target = difficult || too_small ? ignored : boxes;
      for (double v : xyxy)
        target.push_back(static_cast<float>(v));
      (difficult || too_small ? ignored_labels : labels).push_back(found->second);
    }
    // MMDetection's XMLDataset._filter_imgs(min_size=32), training only.
    if (!opts.test_mode && std::min(info.width, info.height) < 32) continue;
    info.gt = data_detail::make_instances(boxes, labels);
    info.gt_ignore = data_detail::make_boxes(ignored);
    info.ignore_labels = torch::tensor(ignored_labels, torch::kInt64);
    infos.push_back(std::move(info));
    annotated.push_back(has_selected);
  }
  invalid.print_summary();
  print_skipped_classes(layout.type_name, opts.ann_file, skipped_classes, !opts.classes.empty());
  set_data(std::move(infos), layout.classes, annotated);
}

Schema XMLDataset::xml_schema(std::string summary, bool subdirs) {
  Schema schema = base_schema(std::move(summary));
  schema.add<std::optional<double>>("min_size", std::nullopt,
                                    "in training, ignore boxes narrower or lower than this");
  if (subdirs) {
    schema.add<std::string>("img_subdir", "JPEGImages", "image folder under img_prefix")
        .add<std::string>("ann_subdir", "Annotations", "XML folder under img_prefix");
  }
  return schema;
}

void XMLDataset::read_layout(const ComponentConfig& cfg, Layout& layout) {
  layout.min_size = cfg.get<std::optional<double>>("min_size");
  if (layout.min_size && *layout.min_size < 0) cfg.fail("min_size", "must be >= 0");
  if (layout.min_size && cfg.get<bool>("test_mode"))
    cfg.fail("min_size", "ignores small boxes in training and cannot be used with test_mode");
  if (cfg.values().contains("img_subdir")) {
    layout.img_subdir = cfg.get<std::string>("img_subdir");
    layout.ann_subdir = cfg.get<std::string>("ann_subdir");
  }
}

Schema XMLDataset::schema() {
  return xml_schema(
      "Pascal VOC-style XML annotations with your own classes (MMDetection's XMLDataset): "
      "ann_file lists image ids; `classes` is required.",
      true);
}

std::shared_ptr<XMLDataset> XMLDataset::create(const ComponentConfig& cfg) {
  if (!cfg.has("classes")) cfg.fail("classes", "XMLDataset needs `classes` (the object names)");
  CustomDatasetOptions options = CustomDatasetOptions::from_config(cfg);
  Layout layout;
  layout.classes = options.classes;
  read_layout(cfg, layout);
  return std::make_shared<XMLDataset>(std::move(options), std::move(layout));
}

DETKIT_REGISTER(dataset, XMLDataset);

}  // namespace detkit
