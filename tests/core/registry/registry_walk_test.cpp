// Walks every component of every in-tree plugin: each builds from its defaults, and what
// `detkit plugins describe` prints as defaults is exactly what the built object holds.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sstream>

#include "detkit/core/runtime.h"
#include "detkit/registry.h"
#include "test_support.h"

namespace detkit {
namespace {

using namespace detkit::testing;

/// The line of `describe` that documents parameter `name`.
std::string describe_line(const std::string& describe, const std::string& name) {
  std::istringstream in(describe);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("  " + name + " ", 0) == 0) return line;
  }
  return {};
}

TEST(RegistryWalk, EveryDeclaredComponentBuildsFromDefaultsAndDescribeShowsItsValues) {
  initialize_runtime();
  load_in_tree_plugins();
  size_t walked = 0;
  for (Kind kind : all_kinds()) {
    for (const ComponentInfo* info : Registry::of(kind).components()) {
      if (info->origin == "libdetkit" || !info->values) continue;
      bool has_required = false;
      for (const auto& spec : info->schema.params())
        has_required = has_required || spec.required;
      if (has_required) continue;
      SCOPED_TRACE(info->type);
      ConfigNode cfg = ConfigNode::make_map();
      cfg.set("type", ConfigNode(info->type));
      BuiltComponent built;
      try {
        built = build_component(kind, cfg, "walk", nullptr);
      } catch (const ConfigError& e) {
        // A part the component cannot do without and that has no default (a detector's
        // backbone: declared nullable, default null) may stop the build, naming that part.
        bool names_a_null_default = false;
        for (const auto& spec : info->schema.params())
          names_a_null_default =
              names_a_null_default ||
              (spec.default_value.is_null() &&
               std::string(e.what()).find("walk." + spec.name) != std::string::npos);
        // MMDetection's ConvFCBBoxHead has every layer count 0 by default and asserts that one
        // is set: its defaults describe no head, in MMDetection as here (Shared2FCBBoxHead,
        // its configured form, builds from defaults).
        const bool mmdet_needs_a_layer =
            info->type == "ConvFCBBoxHead" &&
            std::string(e.what()).find("needs at least one conv or fc") != std::string::npos;
        EXPECT_TRUE(names_a_null_default || mmdet_needs_a_layer) << info->type << ": " << e.what();
        continue;
      } catch (const Error& e) {
        // A component that cannot exist without its build context (EMAHook: the runner whose
        // model it averages) says which context it needs.
        EXPECT_NE(std::string(e.what()).find("Context"), std::string::npos)
            << info->type << ": " << e.what();
        continue;
      }
      const ConfigNode held = info->values(built.object.get());
      ASSERT_TRUE(held.is_map());
      const ProcessResult describe = run_detkit({"plugins", "describe", info->type});
      ASSERT_EQ(describe.exit_code, 0) << describe.out;
      for (const auto& spec : info->schema.params()) {
        const ConfigNode* value = held.find(spec.name);
        ASSERT_NE(value, nullptr) << spec.name;
        EXPECT_EQ(*value, spec.default_value) << spec.name;
        const std::string line = describe_line(describe.out, spec.name);
        if (value->is_map() && line.find("(below)") != std::string::npos) {
          // A nested map: its fields are the rows below, each under its own name.
          for (const auto& entry : value->entries())
            EXPECT_NE(describe.out.find(entry.key), std::string::npos)
                << spec.name << "." << entry.key << " is not described";
          continue;
        }
        EXPECT_NE(line.find(value->to_flow()), std::string::npos)
            << spec.name << " holds " << value->to_flow() << "; describe says: " << line;
      }
      ++walked;
    }
  }
  // The losses plugin's five losses and the template's backbone at least.
  EXPECT_GE(walked, 5u);
}

}  // namespace
}  // namespace detkit
