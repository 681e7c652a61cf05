// Kind names, checked at compile time against the Kind enum (which is append-only).
#include "detkit/kind.h"

#include <array>
#include <string>

namespace detkit {

namespace {

struct KindName {
  Kind kind;
  const char* name;
  bool is_module;
};

constexpr std::array<KindName, kKindCount> kKindNames = {{
    {Kind::backbone, "backbone", true},
    {Kind::neck, "neck", true},
    {Kind::dense_head, "dense_head", true},
    {Kind::roi_head, "roi_head", true},
    {Kind::bbox_head, "bbox_head", true},
    {Kind::mask_head, "mask_head", true},
    {Kind::roi_extractor, "roi_extractor", true},
    {Kind::loss, "loss", true},
    {Kind::detector, "detector", true},
    {Kind::hook, "hook", false},
    {Kind::scheduler, "scheduler", false},
    {Kind::optimizer, "optimizer", false},
    {Kind::optimizer_constructor, "optimizer_constructor", false},
    {Kind::runner, "runner", false},
    {Kind::dataset, "dataset", false},
    {Kind::transform, "transform", false},
    {Kind::metric, "metric", false},
    {Kind::initializer, "initializer", false},
    {Kind::norm_layer, "norm_layer", true},
    {Kind::conv_layer, "conv_layer", true},
    {Kind::activation_layer, "activation_layer", true},
    {Kind::upsample_layer, "upsample_layer", true},
    {Kind::iou_calculator, "iou_calculator", false},
    {Kind::anchor_generator, "anchor_generator", false},
    {Kind::assigner, "assigner", false},
    {Kind::sampler, "sampler", false},
    {Kind::bbox_coder, "bbox_coder", false},
}};

/// Every entry sits at the index of its kind's number: the table and the enum agree.
constexpr bool table_matches_enum() {
  for (uint32_t i = 0; i < kKindCount; ++i) {
    if (static_cast<uint32_t>(kKindNames[i].kind) != i) return false;
  }
  return true;
}
static_assert(table_matches_enum(),
              "kKindNames must list every Kind in number order (kinds are append-only)");
static_assert(static_cast<uint32_t>(Kind::bbox_coder) + 1 == kKindCount,
              "kKindCount must be one past the last Kind (append new kinds at the end)");

}  // namespace

const char* kind_name(Kind kind) {
  const auto index = static_cast<uint32_t>(kind);
  if (!is_known_kind(index)) {
    static thread_local std::string unknown;
    unknown = "unknown kind " + std::to_string(index);
    return unknown.c_str();
  }
  return kKindNames[index].name;
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
  const auto index = static_cast<uint32_t>(kind);
  return is_known_kind(index) && kKindNames[index].is_module;
}

}  // namespace detkit
