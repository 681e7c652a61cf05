// ZipArchive: the zip container of torch.save files, read from memory with every offset and
// size checked against the file (APPNOTE.TXT: end of central directory, zip64 locator and
// record, central directory entries, local headers). Only stored records can be read: torch.save
// and PyTorchStreamWriter store data.pkl and the storages uncompressed (TorchScript archives
// deflate their code/ records, which detkit never reads).
#include <array>
#include <limits>
#include <string>

#include "checkpoint_internal.h"
#include "detkit/checkpoint.h"

namespace detkit::checkpoint_detail {

namespace {

constexpr uint32_t kLocalHeader = 0x04034b50;
constexpr uint32_t kCentralHeader = 0x02014b50;
constexpr uint32_t kEndOfDirectory = 0x06054b50;
constexpr uint32_t kZip64Locator = 0x07064b50;
constexpr uint32_t kZip64EndOfDirectory = 0x06064b50;

/// Little-endian reads from a byte string, checked against its end.
class ByteView {
 public:
  ByteView(const std::string& path, std::string_view bytes) : path_(path), bytes_(bytes) {}
  uint64_t read(uint64_t offset, int width, const char* what) const {
    if (offset > bytes_.size() || bytes_.size() - offset < static_cast<uint64_t>(width)) {
      fail(std::string(what) + " at offset " + std::to_string(offset) + " lies past the end of " +
           "the file (" + std::to_string(bytes_.size()) + " bytes)");
    }
    uint64_t value = 0;
    for (int i = width - 1; i >= 0; --i)
      value = (value << 8) | static_cast<unsigned char>(bytes_[offset + i]);
    return value;
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw CheckpointError("checkpoint '" + path_ +
                          "' is a corrupt or truncated zip archive: " + what);
  }
  uint64_t size() const { return bytes_.size(); }

 private:
  const std::string& path_;
  std::string_view bytes_;
};

/// CRC-32 (IEEE 802.3, the zip checksum), eight bytes per step ("slicing-by-8": table k maps
/// a byte to its CRC contribution k bytes further on), about 1 GB/s.
uint32_t crc32(std::string_view data) {
  using Tables = std::array<std::array<uint32_t, 256>, 8>;
  static const Tables tables = [] {
    Tables t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k)
        c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i) {
      for (int k = 1; k < 8; ++k)
        t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFFu];
    }
    return t;
  }();
  uint32_t crc = 0xFFFFFFFFu;
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  size_t n = data.size();
  for (; n >= 8; n -= 8, p += 8) {
    const uint32_t low =
        crc ^ (uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24);
    crc = tables[7][low & 0xFFu] ^ tables[6][(low >> 8) & 0xFFu] ^ tables[5][(low >> 16) & 0xFFu] ^
          tables[4][low >> 24] ^ tables[3][p[4]] ^ tables[2][p[5]] ^ tables[1][p[6]] ^
          tables[0][p[7]];
  }
  for (; n > 0; --n, ++p)
    crc = tables[0][(crc ^ *p) & 0xFFu] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

}  // namespace

bool ZipArchive::looks_like_zip(std::string_view bytes) {
  return bytes.size() >= 4 && bytes.substr(0, 4) == std::string_view("PK\x03\x04", 4);
}

ZipArchive::ZipArchive(std::string path, std::string bytes)
    : path_(std::move(path)), bytes_(std::move(bytes)) {
  const ByteView in(path_, bytes_);
  // The end-of-central-directory record: the last 22 bytes plus a comment of up to 64 KiB.
  if (in.size() < 22) in.fail("shorter than a zip directory");
  uint64_t eocd = std::numeric_limits<uint64_t>::max();
  const uint64_t lowest = in.size() >= 22 + 0xFFFF ? in.size() - 22 - 0xFFFF : 0;
  for (uint64_t pos = in.size() - 22;; --pos) {
    if (in.read(pos, 4, "end of directory") == kEndOfDirectory) {
      eocd = pos;
      break;
    }
    if (pos == lowest) break;
  }
  if (eocd == std::numeric_limits<uint64_t>::max()) {
    in.fail("no end-of-directory record (the file was cut short?)");
  }
  uint64_t count = in.read(eocd + 10, 2, "entry count");
  uint64_t directory_size = in.read(eocd + 12, 4, "directory size");
  uint64_t directory_offset = in.read(eocd + 16, 4, "directory offset");
  if (count == 0xFFFF || directory_size == 0xFFFFFFFFu || directory_offset == 0xFFFFFFFFu) {
    if (eocd < 20 || in.read(eocd - 20, 4, "zip64 locator") != kZip64Locator) {
      in.fail("zip64 sizes without a zip64 locator");
    }
    const uint64_t record = in.read(eocd - 20 + 8, 8, "zip64 directory offset");
    if (in.read(record, 4, "zip64 end of directory") != kZip64EndOfDirectory) {
      in.fail("the zip64 locator points at no zip64 directory record");
    }
    count = in.read(record + 32, 8, "zip64 entry count");
    directory_size = in.read(record + 40, 8, "zip64 directory size");
    directory_offset = in.read(record + 48, 8, "zip64 directory offset");
  }
  if (directory_offset > in.size() || directory_size > in.size() - directory_offset) {
    in.fail("the central directory (" + std::to_string(directory_size) + " bytes at offset " +
            std::to_string(directory_offset) + ") lies past the end of the file");
  }
  if (count > directory_size / 46) {
    in.fail(std::to_string(count) + " entries cannot fit a directory of " +
            std::to_string(directory_size) + " bytes");
  }
  uint64_t pos = directory_offset;
  for (uint64_t i = 0; i < count; ++i) {
    if (in.read(pos, 4, "directory entry") != kCentralHeader) {
      in.fail("directory entry " + std::to_string(i) + " has a bad signature");
    }
    const uint64_t method = in.read(pos + 10, 2, "compression method");
    const uint32_t crc = static_cast<uint32_t>(in.read(pos + 16, 4, "crc"));
    uint64_t compressed = in.read(pos + 20, 4, "compressed size");
    uint64_t size = in.read(pos + 24, 4, "size");
    const uint64_t name_length = in.read(pos + 28, 2, "name length");
    const uint64_t extra_length = in.read(pos + 30, 2, "extra length");
    const uint64_t comment_length = in.read(pos + 32, 2, "comment length");
    uint64_t local = in.read(pos + 42, 4, "local header offset");
    in.read(pos + 46 + name_length + extra_length + comment_length - 1, 1, "directory entry");
    const std::string name = bytes_.substr(pos + 46, name_length);
    // Zip64 extended information: the 8-byte values of the fields saturated above, in order.
    for (uint64_t extra = pos + 46 + name_length;
         extra + 4 <= pos + 46 + name_length + extra_length;) {
      const uint64_t id = in.read(extra, 2, "extra field");
      const uint64_t length = in.read(extra + 2, 2, "extra field");
      if (id == 0x0001) {
        uint64_t field = extra + 4;
        if (size == 0xFFFFFFFFu) size = in.read(field, 8, "zip64 size"), field += 8;
        if (compressed == 0xFFFFFFFFu) compressed = in.read(field, 8, "zip64 size"), field += 8;
        if (local == 0xFFFFFFFFu) local = in.read(field, 8, "zip64 offset");
      }
      extra += 4 + length;
    }
    if (method == 0 && compressed != size) in.fail("record '" + name + "' has two different sizes");
    if (in.read(local, 4, "local header") != kLocalHeader) {
      in.fail("record '" + name + "' has no local header");
    }
    const uint64_t data = local + 30 + in.read(local + 26, 2, "local header") +
                          in.read(local + 28, 2, "local header");
    if (data > in.size() || compressed > in.size() - data) {
      in.fail("record '" + name + "' (" + std::to_string(compressed) + " bytes at offset " +
              std::to_string(data) + ") lies past the end of the file");
    }
    if (!records_.emplace(name, Entry{data, compressed, crc, method}).second) {
      in.fail("record '" + name + "' appears twice");
    }
    order_.push_back(name);
    pos += 46 + name_length + extra_length + comment_length;
  }
}

std::vector<std::string> ZipArchive::names() const {
  return order_;
}

std::string_view ZipArchive::record(const std::string& name) const {
  const auto found = records_.find(name);
  if (found == records_.end()) {
    throw CheckpointError("checkpoint '" + path_ + "' has no record '" + name + "'");
  }
  if (found->second.method != 0) {
    throw CheckpointError("checkpoint '" + path_ + "': record '" + name +
                          "' is compressed (zip method " + std::to_string(found->second.method) +
                          "); torch.save stores the records detkit reads uncompressed");
  }
  const std::string_view data(bytes_.data() + found->second.data_offset, found->second.size);
  if (crc32(data) != found->second.crc) {
    throw CheckpointError("checkpoint '" + path_ + "' is corrupt: record '" + name +
                          "' fails its CRC-32 check");
  }
  return data;
}

}  // namespace detkit::checkpoint_detail
