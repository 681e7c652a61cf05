// Image header sizes and the decoder libraries' messages (image_decoding.h).
#include "image_decoding.h"

#include <dlfcn.h>

#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

#if __has_include(<jpeglib.h>)
extern "C" {
#include <jpeglib.h>
}
#define DETKIT_HAVE_JPEGLIB 1
#endif

namespace detkit::transforms {

namespace {

uint32_t be16(const uint8_t* p) {
  return (uint32_t(p[0]) << 8) | p[1];
}
uint32_t be32(const uint8_t* p) {
  return (be16(p) << 16) | be16(p + 2);
}
uint32_t le16(const uint8_t* p) {
  return (uint32_t(p[1]) << 8) | p[0];
}
uint32_t le24(const uint8_t* p) {
  return (uint32_t(p[2]) << 16) | le16(p);
}
uint32_t le32(const uint8_t* p) {
  return (uint32_t(p[3]) << 24) | le24(p);
}

/// The first frame header (SOF0..SOF15 but DHT, JPG, DAC) before the first scan.
std::optional<DeclaredImageSize> jpeg_size(const uint8_t* data, size_t size) {
  size_t pos = 2;  // after SOI
  while (pos + 4 <= size) {
    if (data[pos] != 0xFF) return std::nullopt;
    const uint8_t marker = data[pos + 1];
    if (marker == 0xFF) {  // fill byte
      ++pos;
      continue;
    }
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // no length
      pos += 2;
      continue;
    }
    if (marker == 0xDA || marker == 0xD9) return std::nullopt;  // a scan or the end first
    const size_t length = be16(data + pos + 2);
    const bool frame =
        marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (frame) {
      if (length < 7 || pos + 9 > size) return std::nullopt;
      DeclaredImageSize declared{be16(data + pos + 7), be16(data + pos + 5), "JPEG"};
      if (declared.width == 0 || declared.height == 0) return std::nullopt;  // height by DNL
      return declared;
    }
    if (length < 2) return std::nullopt;
    pos += 2 + length;
  }
  return std::nullopt;
}

/// BITMAPCOREHEADER (16-bit sizes) or BITMAPINFOHEADER and later (32-bit, height < 0 top-down).
std::optional<DeclaredImageSize> bmp_size(const uint8_t* data, size_t size) {
  if (size < 26) return std::nullopt;
  const uint32_t header = le32(data + 14);
  if (header == 12) return DeclaredImageSize{le16(data + 18), le16(data + 20), "BMP"};
  const auto width = static_cast<int32_t>(le32(data + 18));
  const auto height = static_cast<int32_t>(le32(data + 22));
  if (header < 40 || width <= 0 || height == 0) return std::nullopt;
  return DeclaredImageSize{width, height < 0 ? -int64_t(height) : int64_t(height), "BMP"};
}

/// The first chunk of a WebP file: VP8 (lossy), VP8L (lossless) or VP8X (extended: canvas).
std::optional<DeclaredImageSize> webp_size(const uint8_t* data, size_t size) {
  if (size < 30) return std::nullopt;
  if (std::memcmp(data + 12, "VP8 ", 4) == 0 && data[23] == 0x9D && data[24] == 0x01 &&
      data[25] == 0x2A) {
    return DeclaredImageSize{le16(data + 26) & 0x3FFF, le16(data + 28) & 0x3FFF, "WebP"};
  }
  if (std::memcmp(data + 12, "VP8L", 4) == 0 && data[20] == 0x2F) {
    const uint32_t bits = le32(data + 21);
    return DeclaredImageSize{(bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, "WebP"};
  }
  if (std::memcmp(data + 12, "VP8X", 4) == 0) {
    return DeclaredImageSize{int64_t(le24(data + 24)) + 1, int64_t(le24(data + 27)) + 1, "WebP"};
  }
  return std::nullopt;
}

/// The first image (IFD) of a TIFF file: its ImageWidth (256) and ImageLength (257) tags, SHORT
/// or LONG, in the file's byte order.
std::optional<DeclaredImageSize> tiff_size(const uint8_t* data, size_t size) {
  const bool little = data[0] == 'I';
  auto u16 = [&](size_t at) { return little ? le16(data + at) : be16(data + at); };
  auto u32 = [&](size_t at) { return little ? le32(data + at) : be32(data + at); };
  const size_t ifd = u32(4);
  if (ifd < 8 || ifd + 2 > size) return std::nullopt;
  const size_t entries = u16(ifd);
  int64_t width = 0, height = 0;
  for (size_t i = 0; i < entries && ifd + 2 + 12 * (i + 1) <= size; ++i) {
    const size_t entry = ifd + 2 + 12 * i;
    const uint32_t tag = u16(entry), type = u16(entry + 2);
    if (tag != 256 && tag != 257) continue;
    const int64_t value = type == 3 ? u16(entry + 8) : type == 4 ? u32(entry + 8) : 0;
    (tag == 256 ? width : height) = value;
  }
  if (width <= 0 || height <= 0) return std::nullopt;
  return DeclaredImageSize{width, height, "TIFF"};
}

/// Messages of this thread's decoders since clear_decoder_messages().
thread_local std::vector<std::string> messages;

void add_message(const char* library, const char* text) {
  if (messages.size() < 4) messages.push_back(std::string(library) + ": " + text);
}

/// The library's own `name`: the next definition after libdetkit's (the library OpenCV would
/// have reached), else the one in `soname` when that is loaded privately (RTLD_LOCAL).
void* next_symbol(const char* name, const char* soname) {
  void* symbol = dlsym(RTLD_NEXT, name);
  if (symbol == nullptr) {
    if (void* library = dlopen(soname, RTLD_LAZY | RTLD_NOLOAD)) symbol = dlsym(library, name);
  }
  if (symbol == nullptr) {
    std::cerr << "detkit: cannot find " << name << " (" << soname << ") in the loaded libraries\n";
    std::abort();
  }
  return symbol;
}

#ifdef DETKIT_HAVE_JPEGLIB
/// libjpeg's output_message: its warnings and errors ("Corrupt JPEG data: ...") are caught here
/// instead of going to stderr.
void catch_jpeg_message(j_common_ptr info) {
  char text[JMSG_LENGTH_MAX];
  (*info->err->format_message)(info, text);
  add_message("libjpeg", text);
}
#endif

/// libpng's error and warning handlers. After an error libpng needs a long jump back to the
/// decoder (what its own handler does after printing).
using PngMessageFn = void (*)(void*, const char*);
void catch_png_warning(void*, const char* text) {
  add_message("libpng warning", text);
}
[[noreturn]] void catch_png_error(void* png, const char* text) {
  add_message("libpng", text);
  using LongJump = void (*)(void*, int);
  static const auto long_jump =
      reinterpret_cast<LongJump>(next_symbol("png_longjmp", "libpng16.so.16"));
  long_jump(png, 1);
  std::abort();  // png_longjmp does not return
}

}  // namespace

std::optional<DeclaredImageSize> declared_image_size(const uint8_t* data, size_t size) {
  if (size >= 24 && std::memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0 &&
      std::memcmp(data + 12, "IHDR", 4) == 0) {
    return DeclaredImageSize{be32(data + 16), be32(data + 20), "PNG"};
  }
  if (size >= 4 && data[0] == 0xFF && data[1] == 0xD8) return jpeg_size(data, size);
  if (size >= 2 && data[0] == 'B' && data[1] == 'M') return bmp_size(data, size);
  if (size >= 12 && std::memcmp(data, "RIFF", 4) == 0 && std::memcmp(data + 8, "WEBP", 4) == 0)
    return webp_size(data, size);
  if (size >= 8 && (std::memcmp(data, "II*\0", 4) == 0 || std::memcmp(data, "MM\0*", 4) == 0))
    return tiff_size(data, size);
  return std::nullopt;
}

int64_t default_max_image_pixels() {
  const char* text = std::getenv("DETKIT_MAX_IMAGE_PIXELS");
  if (text == nullptr || *text == '\0') return kDefaultMaxImagePixels;
  char* end = nullptr;
  errno = 0;
  const long long value = std::strtoll(text, &end, 10);
  if (errno != 0 || *end != '\0' || value <= 0) {
    static const bool warned = [&] {
      std::cerr << "warning: DETKIT_MAX_IMAGE_PIXELS='" << text
                << "' is not a positive number; using " << kDefaultMaxImagePixels << "\n";
      return true;
    }();
    (void)warned;
    return kDefaultMaxImagePixels;
  }
  return value;
}

void clear_decoder_messages() {
  messages.clear();
}

std::vector<std::string> decoder_messages() {
  return messages;
}

}  // namespace detkit::transforms

// libjpeg and libpng print their messages on stderr by default, before (and apart from) the
// error detkit reports, and OpenCV keeps those defaults. libdetkit is loaded before the codec
// libraries (they are OpenCV's dependencies), so these definitions are the ones OpenCV's calls
// reach; each calls the library's own and installs the catching handlers above.
#define DETKIT_INTERPOSE extern "C" __attribute__((visibility("default")))

#ifdef DETKIT_HAVE_JPEGLIB
DETKIT_INTERPOSE struct jpeg_error_mgr* jpeg_std_error(struct jpeg_error_mgr* err) {
  using StdError = struct jpeg_error_mgr* (*)(struct jpeg_error_mgr*);
  static const auto real = reinterpret_cast<StdError>(
      detkit::transforms::next_symbol("jpeg_std_error", "libjpeg.so.62"));
  struct jpeg_error_mgr* manager = real(err);
  manager->output_message = &detkit::transforms::catch_jpeg_message;
  return manager;
}
#endif

DETKIT_INTERPOSE void* png_create_read_struct(const char* version, void* error_ptr,
                                              detkit::transforms::PngMessageFn error_fn,
                                              detkit::transforms::PngMessageFn warn_fn) {
  using Create = void* (*)(const char*, void*, detkit::transforms::PngMessageFn,
                           detkit::transforms::PngMessageFn);
  static const auto real = reinterpret_cast<Create>(
      detkit::transforms::next_symbol("png_create_read_struct", "libpng16.so.16"));
  return real(version, error_ptr,
              error_fn != nullptr ? error_fn : &detkit::transforms::catch_png_error,
              warn_fn != nullptr ? warn_fn : &detkit::transforms::catch_png_warning);
}
