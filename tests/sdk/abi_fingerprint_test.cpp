// The SDK layout fingerprint (detkit/abi_fingerprint.h) is the value recorded for this SDK ABI
// major: a change to the layout of any type plugins compile in must come with a new major.
#include "detkit/abi_fingerprint.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <string>

#include "detkit/version.h"

namespace detkit {
namespace {

/// "0x" and 16 hex digits.
std::string hex(uint64_t value) {
  char text[19];
  std::snprintf(text, sizeof(text), "0x%016llx", static_cast<unsigned long long>(value));
  return text;
}

TEST(AbiFingerprint, LibdetkitAndItsHeadersAgree) {
  EXPECT_EQ(BuildInfo::layout_fingerprint(), sdk_layout_fingerprint());
}

TEST(AbiFingerprint, IsTheValueRecordedForThisMajor) {
#if defined(__x86_64__) && defined(__GLIBCXX__) && _GLIBCXX_USE_CXX11_ABI
  // The fingerprint of each released SDK ABI major on x86-64 Linux with libstdc++'s C++11 ABI.
  const std::map<int, uint64_t> recorded = {
      {1, 0xa467e822302f27d7ull},
  };
  const uint64_t now = sdk_layout_fingerprint();
  ASSERT_EQ(recorded.count(DETKIT_SDK_ABI_MAJOR), 1u)
      << "record the fingerprint of SDK ABI major " << DETKIT_SDK_ABI_MAJOR << ": " << hex(now);
  EXPECT_EQ(hex(now), hex(recorded.at(DETKIT_SDK_ABI_MAJOR)))
      << "the layout of a type plugins compile in changed (detkit/abi_fingerprint.h lists "
         "them): plugins built before are now rejected, so bump DETKIT_SDK_ABI_MAJOR in "
         "detkit/version.h and record the new fingerprint here (replace the row instead only "
         "while no plugin was released against it)";
#else
  GTEST_SKIP() << "fingerprints are recorded for x86-64 libstdc++ (C++11 ABI) only";
#endif
}

}  // namespace
}  // namespace detkit
