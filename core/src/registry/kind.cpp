// Kind names.
#include "detkit/kind.h"

#include <string>

namespace detkit {

namespace {
struct KindName {
  Kind kind;
  const char* name;
  bool is_module;
};
const KindName kKindNames[] = {
    {Kind::backbone, "backbone", true},
    {Kind::neck, "neck", true},
    {Kind::head, "head", true},
    {Kind::roi_extractor, "roi_extractor", true},
    {Kind::loss, "loss", true},
    {Kind::detector, "detector", true},
    {Kind::hook, "hook", false},
    {Kind::scheduler, "scheduler", false},
    {Kind::optimizer, "optimizer", false},
    {Kind::dataset, "dataset", false},
    {Kind::transform, "transform", false},
    {Kind::metric, "metric", false},
    {Kind::initializer, "initializer", false},
    {Kind::anchor_generator, "anchor_generator", false},
    {Kind::assigner, "assigner", false},
    {Kind::sampler, "sampler", false},
    {Kind::bbox_coder, "bbox_coder", false},
};
}  // namespace

const char* kind_name(Kind kind) {
  for (const auto& entry : kKindNames) {
    if (entry.kind == kind) return entry.name;
  }
  return "?";
}

std::optional<Kind> kind_from_name(std::string_view name) {
  for (const auto& entry : kKindNames) {
    if (name == entry.name) return entry.kind;
  }
  return std::nullopt;
}

const std::vector<Kind>& all_kinds() {
  static const std::vector<Kind> kinds = [] {
    std::vector<Kind> out;
    for (const auto& entry : kKindNames)
      out.push_back(entry.kind);
    return out;
  }();
  return kinds;
}

bool kind_is_module(Kind kind) {
  for (const auto& entry : kKindNames) {
    if (entry.kind == kind) return entry.is_module;
  }
  return false;
}

}  // namespace detkit
