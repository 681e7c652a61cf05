// The resnet plugin's ResNet against torchvision 0.14's resnet18 and resnet50 (fixed seed,
// perturbed BatchNorm statistics, eval mode), computed at test time by
// tests/reference/gen_backbones.py with /usr/bin/python3: same state_dict keys in the same
// order (torchvision's minus fc.*), and with the same weights the same C2..C5 to 1e-4 relative
// on a 2x3x64x96 and an odd-sized 1x3x61x75 input.
#include "backbone_reference.h"

namespace {

TEST(ResNetReference, EqualsTorchvisionResNet18And50) {
  backbone_test::load_plugin("resnet");
  const auto cases = backbone_test::reference_cases("resnet");
  ASSERT_EQ(cases.size(), 2u);
  EXPECT_EQ(cases[0].at("name").toStringRef(), "resnet18");
  EXPECT_EQ(cases[1].at("name").toStringRef(), "resnet50");
  for (const auto& reference : cases)
    backbone_test::check_case(reference);
}

}  // namespace
