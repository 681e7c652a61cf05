// COCO annotation and result files with simdjson's DOM parser (a 100 MB file parses in well under
// a second); every problem names the file and the element.
#include "detkit/core/coco_json.h"

#include <simdjson.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "../evaluation/json_diagnostics.h"
#include "detkit/core/file_io.h"

namespace detkit {

InvalidAnnotationError::InvalidAnnotationError(const std::string& message) : DataError(message) {}
InvalidAnnotationError::~InvalidAnnotationError() = default;

namespace {

namespace dom = simdjson::dom;

/// Reads a whole file into simdjson's padded buffer.
simdjson::padded_string load_file(const std::string& path) {
  require_input_file<DataError>(path);  // a folder, FIFO or symlink loop: one clear line
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw DataError(path + ": cannot open the file (" + std::strerror(errno) + ")");
  const std::streamsize size = in.tellg();
  if (size < 0) throw DataError(path + ": cannot read the file (is it a folder?)");
  simdjson::padded_string content(static_cast<size_t>(size));
  in.seekg(0);
  if (size > 0 && !in.read(content.data(), size))
    throw DataError(path + ": cannot read the file (" + std::strerror(errno) + ")");
  return content;
}

/// Parses the document or throws a DataError that locates the syntax error.
dom::element parse_document(dom::parser& parser, std::string_view json, const std::string& origin) {
  dom::element root;
  const simdjson::error_code error = parser.parse(json.data(), json.size(), true).get(root);
  if (error != simdjson::SUCCESS) {
    throw DataError(origin + ": invalid JSON: " +
                    json_diagnostics::describe_syntax_error(json, simdjson::error_message(error)));
  }
  return root;
}

const char* type_name(dom::element value) {
  switch (value.type()) {
    case dom::element_type::ARRAY:
      return "an array";
    case dom::element_type::OBJECT:
      return "an object";
    case dom::element_type::INT64:
    case dom::element_type::UINT64:
    case dom::element_type::DOUBLE:
      return "a number";
    case dom::element_type::STRING:
      return "a string";
    case dom::element_type::BOOL:
      return "true/false";
    case dom::element_type::NULL_VALUE:
      return "null";
  }
  return "an unknown value";
}

/// Throws `Exception` with "ORIGIN: WHERE: field 'NAME' ...".
template <typename Exception = DataError>
[[noreturn]] void fail(const std::string& where, const std::string& message) {
  throw Exception(where + ": " + message);
}

template <typename Exception = DataError>
double read_number(dom::element value, const std::string& where, std::string_view name) {
  switch (value.type()) {
    case dom::element_type::INT64:
      return static_cast<double>(value.get_int64().value_unsafe());
    case dom::element_type::UINT64:
      return static_cast<double>(value.get_uint64().value_unsafe());
    case dom::element_type::DOUBLE:
      return value.get_double().value_unsafe();
    default:
      fail<Exception>(where,
                      "'" + std::string(name) + "' must be a number, got " + type_name(value));
  }
}

template <typename Exception = DataError>
int64_t read_integer(dom::element value, const std::string& where, std::string_view name) {
  if (value.type() == dom::element_type::INT64) return value.get_int64().value_unsafe();
  if (value.type() == dom::element_type::DOUBLE) {
    const double number = value.get_double().value_unsafe();
    if (std::floor(number) == number && std::fabs(number) < 9.0e15)
      return static_cast<int64_t>(number);
  }
  std::string got = type_name(value);
  if (value.is_number()) got = "a number that is not a 64-bit integer";
  fail<Exception>(where, "'" + std::string(name) + "' must be an integer, got " + got);
}

/// iscrowd / ignore: 0/1, true/false (any nonzero number is true, as in Python).
template <typename Exception = DataError>
bool read_flag(dom::element value, const std::string& where, std::string_view name) {
  if (value.type() == dom::element_type::BOOL) return value.get_bool().value_unsafe();
  return read_number<Exception>(value, where, name) != 0;
}

template <typename Exception = DataError>
std::array<double, 4> read_box(dom::element value, const std::string& where) {
  dom::array list;
  if (value.get_array().get(list) != simdjson::SUCCESS)
    fail<Exception>(where, std::string("'bbox' must be a list of 4 numbers [x, y, w, h], got ") +
                               type_name(value));
  if (list.size() != 4)
    fail<Exception>(where,
                    "'bbox' must be 4 numbers [x, y, w, h], got " + std::to_string(list.size()));
  std::array<double, 4> box{};
  size_t i = 0;
  for (dom::element item : list)
    box[i++] = read_number<Exception>(item, where, "bbox");
  return box;
}

std::optional<dom::array> find_array(dom::object root, const char* key, const std::string& origin,
                                     bool required) {
  dom::element value;
  if (root.at_key(key).get(value) != simdjson::SUCCESS) {
    if (required) fail(origin, std::string("missing the top-level list '") + key + "'");
    return std::nullopt;
  }
  dom::array list;
  if (value.get_array().get(list) != simdjson::SUCCESS)
    fail(origin, std::string("'") + key + "' must be a list, got " + type_name(value));
  return list;
}

dom::object require_object(dom::element value, const std::string& where) {
  dom::object object;
  if (value.get_object().get(object) != simdjson::SUCCESS)
    fail(where, std::string("must be an object, got ") + type_name(value));
  return object;
}

/// Where a later entry with an id seen before goes: pycocotools keeps one entry per id (a dict),
/// the later one in the earlier one's place. Returns the index to overwrite, or SIZE_MAX.
size_t replace_duplicate(std::unordered_map<int64_t, size_t>& seen, int64_t id, size_t next,
                         const std::string& where, const char* what,
                         std::vector<std::string>& duplicates) {
  const auto [it, inserted] = seen.emplace(id, next);
  if (inserted) return SIZE_MAX;
  duplicates.push_back(where + ": duplicate " + what +
                       " id; this entry replaces the earlier one (as pycocotools does)");
  return it->second;
}

/// Prints the duplicate ids as warnings on stderr (the first few, then how many more).
void print_duplicates(const std::vector<std::string>& duplicates, const std::string& origin) {
  constexpr size_t kShown = 5;
  for (size_t i = 0; i < duplicates.size() && i < kShown; ++i)
    std::cerr << "warning: " << duplicates[i] << "\n";
  if (duplicates.size() > kShown) {
    std::cerr << "warning: " << origin << ": " << duplicates.size() - kShown
              << " more duplicate image or category ids\n";
  }
}

void read_images(dom::array list, const std::string& origin, CocoGroundTruth& gt,
                 std::vector<std::string>& duplicates) {
  std::unordered_map<int64_t, size_t> seen;
  gt.images.reserve(list.size());
  size_t index = 0;
  for (dom::element item : list) {
    std::string where = origin + ": images[" + std::to_string(index++) + "]";
    CocoImage image;
    bool has_id = false, has_name = false;
    for (dom::key_value_pair field : require_object(item, where)) {
      if (field.key == "id") {
        image.id = read_integer(field.value, where, "id");
        has_id = true;
      } else if (field.key == "file_name") {
        std::string_view name;
        if (field.value.get_string().get(name) != simdjson::SUCCESS)
          fail(where, std::string("'file_name' must be a string, got ") + type_name(field.value));
        image.file_name = std::string(name);
        has_name = true;
      } else if (field.key == "width") {
        image.width = read_integer(field.value, where, "width");
      } else if (field.key == "height") {
        image.height = read_integer(field.value, where, "height");
      }
    }
    if (!has_id) fail(where, "missing 'id'");
    where += " (id " + std::to_string(image.id) + ")";
    if (!has_name) fail(where, "missing 'file_name'");
    const size_t earlier =
        replace_duplicate(seen, image.id, gt.images.size(), where, "image", duplicates);
    if (earlier == SIZE_MAX) {
      gt.images.push_back(std::move(image));
    } else {
      gt.images[earlier] = std::move(image);
    }
  }
}

void read_categories(dom::array list, const std::string& origin, CocoGroundTruth& gt,
                     std::vector<std::string>& duplicates) {
  std::unordered_map<int64_t, size_t> seen;
  size_t index = 0;
  for (dom::element item : list) {
    std::string where = origin + ": categories[" + std::to_string(index++) + "]";
    CocoCategory category;
    bool has_id = false, has_name = false;
    for (dom::key_value_pair field : require_object(item, where)) {
      if (field.key == "id") {
        category.id = read_integer(field.value, where, "id");
        has_id = true;
      } else if (field.key == "name") {
        std::string_view name;
        if (field.value.get_string().get(name) != simdjson::SUCCESS)
          fail(where, std::string("'name' must be a string, got ") + type_name(field.value));
        category.name = std::string(name);
        has_name = true;
      }
    }
    if (!has_id) fail(where, "missing 'id'");
    where += " (id " + std::to_string(category.id) + ")";
    if (!has_name) fail(where, "missing 'name'");
    const size_t earlier =
        replace_duplicate(seen, category.id, gt.categories.size(), where, "category", duplicates);
    if (earlier == SIZE_MAX) {
      gt.categories.push_back(std::move(category));
    } else {
      gt.categories[earlier] = std::move(category);
    }
  }
}

/// Reads one annotation; throws InvalidAnnotationError for anything wrong with it.
CocoAnnotation read_annotation(dom::element item, std::string where,
                               const std::unordered_set<int64_t>& image_ids,
                               const std::unordered_set<int64_t>& category_ids) {
  using Bad = InvalidAnnotationError;
  dom::object object;
  if (item.get_object().get(object) != simdjson::SUCCESS)
    fail<Bad>(where, std::string("must be an object, got ") + type_name(item));
  std::optional<dom::element> id, image_id, category_id, bbox, area, iscrowd, ignore;
  for (dom::key_value_pair field : object) {
    const std::string_view key = field.key;
    if (key == "id")
      id = field.value;
    else if (key == "image_id")
      image_id = field.value;
    else if (key == "category_id")
      category_id = field.value;
    else if (key == "bbox")
      bbox = field.value;
    else if (key == "area")
      area = field.value;
    else if (key == "iscrowd")
      iscrowd = field.value;
    else if (key == "ignore")
      ignore = field.value;
  }
  CocoAnnotation ann;
  if (!id) fail<Bad>(where, "missing 'id'");
  ann.id = read_integer<Bad>(*id, where, "id");
  where += " (id " + std::to_string(ann.id) + ")";
  if (!image_id) fail<Bad>(where, "missing 'image_id'");
  if (!category_id) fail<Bad>(where, "missing 'category_id'");
  if (!bbox) fail<Bad>(where, "missing 'bbox'");
  ann.image_id = read_integer<Bad>(*image_id, where, "image_id");
  ann.category_id = read_integer<Bad>(*category_id, where, "category_id");
  ann.bbox = read_box<Bad>(*bbox, where);
  if (!(ann.bbox[2] > 0) || !(ann.bbox[3] > 0))
    fail<Bad>(where, fmt::format("bbox width and height must be > 0, got w={} h={}", ann.bbox[2],
                                 ann.bbox[3]));
  ann.area = area ? read_number<Bad>(*area, where, "area") : ann.bbox[2] * ann.bbox[3];
  ann.iscrowd = iscrowd && read_flag<Bad>(*iscrowd, where, "iscrowd");
  ann.ignore = ignore && read_flag<Bad>(*ignore, where, "ignore");
  if (image_ids.count(ann.image_id) == 0)
    fail<Bad>(where, "image_id " + std::to_string(ann.image_id) + " is not in 'images'");
  if (category_ids.count(ann.category_id) == 0)
    fail<Bad>(where, "category_id " + std::to_string(ann.category_id) + " is not in 'categories'");
  return ann;
}

void read_annotations(dom::array list, const std::string& origin, const CocoReadOptions& options,
                      CocoGroundTruth& gt) {
  std::unordered_set<int64_t> image_ids, category_ids, annotation_ids;
  for (const auto& image : gt.images)
    image_ids.insert(image.id);
  for (const auto& category : gt.categories)
    category_ids.insert(category.id);
  gt.annotations.reserve(list.size());
  annotation_ids.reserve(list.size());
  size_t index = 0;
  for (dom::element item : list) {
    const std::string where = origin + ": annotations[" + std::to_string(index++) + "]";
    try {
      CocoAnnotation ann = read_annotation(item, where, image_ids, category_ids);
      if (!annotation_ids.insert(ann.id).second)
        fail<InvalidAnnotationError>(where + " (id " + std::to_string(ann.id) + ")",
                                     "duplicate annotation id");
      gt.annotations.push_back(ann);
    } catch (const InvalidAnnotationError& error) {
      if (!options.skip_invalid) throw;
      ++gt.skipped_annotations;
      if (gt.warnings.size() < options.max_warnings) gt.warnings.push_back(error.what());
    }
  }
}

}  // namespace

CocoGroundTruth parse_coco_annotations(std::string_view json, const std::string& origin,
                                       const CocoReadOptions& options) {
  dom::parser parser;
  const dom::element root = parse_document(parser, json, origin);
  dom::object object;
  if (root.get_object().get(object) != simdjson::SUCCESS)
    fail(origin, std::string("a COCO annotation file must be a JSON object with 'images', "
                             "'annotations' and 'categories', got ") +
                     type_name(root));
  CocoGroundTruth gt;
  gt.source = origin;
  std::vector<std::string> duplicates;
  read_images(*find_array(object, "images", origin, true), origin, gt, duplicates);
  read_categories(*find_array(object, "categories", origin, true), origin, gt, duplicates);
  if (auto annotations = find_array(object, "annotations", origin, false))
    read_annotations(*annotations, origin, options, gt);
  print_duplicates(duplicates, origin);
  return gt;
}

CocoGroundTruth read_coco_annotations(const std::string& path, const CocoReadOptions& options) {
  const simdjson::padded_string content = load_file(path);
  return parse_coco_annotations(std::string_view(content), path, options);
}

std::vector<CocoDetection> parse_coco_results(std::string_view json, const std::string& origin) {
  dom::parser parser;
  const dom::element root = parse_document(parser, json, origin);
  dom::array list;
  if (root.get_array().get(list) != simdjson::SUCCESS)
    fail(origin, std::string("a COCO result file must be a JSON list of {image_id, category_id, "
                             "bbox, score}, got ") +
                     type_name(root));
  std::vector<CocoDetection> detections;
  detections.reserve(list.size());
  size_t index = 0;
  for (dom::element item : list) {
    const std::string where = origin + ": [" + std::to_string(index++) + "]";
    std::optional<dom::element> image_id, category_id, bbox, score;
    for (dom::key_value_pair field : require_object(item, where)) {
      const std::string_view key = field.key;
      if (key == "image_id")
        image_id = field.value;
      else if (key == "category_id")
        category_id = field.value;
      else if (key == "bbox")
        bbox = field.value;
      else if (key == "score")
        score = field.value;
    }
    if (!image_id) fail(where, "missing 'image_id'");
    if (!category_id) fail(where, "missing 'category_id'");
    if (!bbox) fail(where, "missing 'bbox' (only bbox results are supported)");
    if (!score) fail(where, "missing 'score'");
    CocoDetection detection;
    detection.image_id = read_integer(*image_id, where, "image_id");
    detection.category_id = read_integer(*category_id, where, "category_id");
    detection.bbox = read_box(*bbox, where);
    detection.score = read_number(*score, where, "score");
    detections.push_back(detection);
  }
  return detections;
}

std::vector<CocoDetection> read_coco_results(const std::string& path) {
  const simdjson::padded_string content = load_file(path);
  return parse_coco_results(std::string_view(content), path);
}

}  // namespace detkit
