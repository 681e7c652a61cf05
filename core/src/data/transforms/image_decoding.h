// What LoadImageFromFile checks before and after OpenCV decodes a file (core-private): the image
// size a PNG, JPEG, BMP, WebP or TIFF header declares (read from the bytes, so a small file that
// declares 30000x30000 pixels is refused before anything is allocated), and the messages libjpeg
// and libpng write while decoding, caught per thread instead of going to stderr.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace detkit::transforms {

/// Width and height an image file declares in its header, and the format's name.
struct DeclaredImageSize {
  int64_t width = 0;
  int64_t height = 0;
  const char* format = "";
};

/// The size the header of a PNG, JPEG (its first frame header), BMP, WebP or TIFF (its first
/// image) file declares;
/// nullopt for other formats or a header it cannot read (the decoder then judges). Reads at
/// most the marker segments before the first JPEG frame, never the image data.
std::optional<DeclaredImageSize> declared_image_size(const uint8_t* data, size_t size);

/// Default limit on the pixels of an image: DETKIT_MAX_IMAGE_PIXELS when set (a positive
/// number), else kDefaultMaxImagePixels.
int64_t default_max_image_pixels();
constexpr int64_t kDefaultMaxImagePixels = 100'000'000;

/// Starts catching libjpeg's and libpng's messages in this thread (drops earlier ones).
void clear_decoder_messages();
/// The messages libjpeg / libpng produced in this thread since clear_decoder_messages(), each
/// prefixed with the library ("libjpeg: Corrupt JPEG data: ..."); at most a few.
std::vector<std::string> decoder_messages();

}  // namespace detkit::transforms
