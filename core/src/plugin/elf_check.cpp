// The pre-dlopen ELF check: every read is bounded by the file's size, every offset and count is
// checked (without overflow) before it is used, and only regular files are opened.
#include "elf_check.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

namespace detkit::plugin_detail {

namespace {

#if defined(__x86_64__)
constexpr unsigned kHostMachine = EM_X86_64;
#elif defined(__aarch64__)
constexpr unsigned kHostMachine = EM_AARCH64;
#elif defined(__powerpc64__)
constexpr unsigned kHostMachine = EM_PPC64;
#elif defined(__s390x__)
constexpr unsigned kHostMachine = EM_S390;
#elif defined(__riscv)
constexpr unsigned kHostMachine = EM_RISCV;
#elif defined(__i386__)
constexpr unsigned kHostMachine = EM_386;
#elif defined(__arm__)
constexpr unsigned kHostMachine = EM_ARM;
#else
#error "detkit: add this architecture's ELF machine number to elf_check.cpp"
#endif
constexpr unsigned char kHostClass = sizeof(void*) == 8 ? ELFCLASS64 : ELFCLASS32;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
constexpr unsigned char kHostData = ELFDATA2LSB;
#else
constexpr unsigned char kHostData = ELFDATA2MSB;
#endif
#if defined(__LP64__)
using Ehdr = Elf64_Ehdr;
using Phdr = Elf64_Phdr;
using Shdr = Elf64_Shdr;
#else
using Ehdr = Elf32_Ehdr;
using Phdr = Elf32_Phdr;
using Shdr = Elf32_Shdr;
#endif

/// The largest section-name table read (real ones are a few hundred bytes).
constexpr uint64_t kMaxNameTable = 16u << 20;
/// The most program headers accepted (real shared objects have about ten; the dynamic loader
/// copies them onto the stack).
constexpr uint64_t kMaxProgramHeaders = 1024;

/// Closes a file descriptor when it goes.
struct FileHandle {
  int fd = -1;
  ~FileHandle() {
    if (fd >= 0) ::close(fd);
  }
};

/// Reads exactly `size` bytes at `offset`; false on a short read or an error.
bool read_at(int fd, uint64_t offset, void* out, size_t size) {
  auto* bytes = static_cast<char*>(out);
  while (size > 0) {
    const ssize_t n = ::pread(fd, bytes, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes += n;
    offset += static_cast<uint64_t>(n);
    size -= static_cast<size_t>(n);
  }
  return true;
}

/// Whether [offset, offset + size) lies inside a file of `file_size` bytes (no overflow).
bool inside(uint64_t offset, uint64_t size, uint64_t file_size) {
  return offset <= file_size && size <= file_size - offset;
}

/// "a FIFO", "a socket", ... for a file that is not a regular file.
std::string file_type_name(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISDIR(mode)) return "a folder";
  return "not a plain file";
}

std::string corrupt(const std::string& what) {
  return "not a shared library: truncated or corrupt ELF file (" + what + ")";
}

/// Checks the program header table, which dlopen() trusts: its entry size, count and extent.
std::string check_program_headers(const Ehdr& header, uint64_t file_size) {
  if (header.e_ehsize != sizeof(Ehdr)) {
    return corrupt("ELF header size " + std::to_string(header.e_ehsize) + ", expected " +
                   std::to_string(sizeof(Ehdr)));
  }
  if (header.e_phoff == 0 || header.e_phnum == 0)
    return "not a shared library (the ELF file has no program headers)";
  if (header.e_phentsize != sizeof(Phdr)) {
    return corrupt("program header size " + std::to_string(header.e_phentsize) + ", expected " +
                   std::to_string(sizeof(Phdr)));
  }
  if (header.e_phnum > kMaxProgramHeaders) {
    return corrupt(std::to_string(header.e_phnum) + " program headers, at most " +
                   std::to_string(kMaxProgramHeaders) + " are accepted");
  }
  if (!inside(header.e_phoff, uint64_t{header.e_phnum} * sizeof(Phdr), file_size)) {
    return corrupt("the program header table (" + std::to_string(header.e_phnum) +
                   " entries at offset " + std::to_string(header.e_phoff) +
                   ") extends past the end of the file, " + std::to_string(file_size) + " bytes");
  }
  return {};
}

/// Checks the section headers of a host-class ELF file and looks for `dkplug`.
std::string check_sections(int fd, const Ehdr& header, uint64_t file_size) {
  if (header.e_shoff == 0) {
    return "not a detkit plugin: the ELF file has no section headers, so no 'dkplug' section";
  }
  if (header.e_shentsize != sizeof(Shdr)) {
    return corrupt("section header size " + std::to_string(header.e_shentsize) + ", expected " +
                   std::to_string(sizeof(Shdr)));
  }
  const uint64_t offset = header.e_shoff;
  if (!inside(offset, sizeof(Shdr), file_size)) {
    return corrupt("the section header table at offset " + std::to_string(offset) +
                   " starts beyond the end of the file, " + std::to_string(file_size) + " bytes");
  }
  // Section 0 holds the real count and name-table index when they do not fit the header.
  Shdr first{};
  if (!read_at(fd, offset, &first, sizeof(first))) return corrupt("unreadable section header");
  uint64_t count = header.e_shnum != 0 ? header.e_shnum : first.sh_size;
  uint64_t names_index = header.e_shstrndx != SHN_XINDEX ? header.e_shstrndx : first.sh_link;
  if (count == 0) return corrupt("zero sections");
  if (count > (file_size - offset) / sizeof(Shdr)) {
    return corrupt("the section header table (" + std::to_string(count) + " entries at offset " +
                   std::to_string(offset) + ") extends past the end of the file, " +
                   std::to_string(file_size) + " bytes");
  }
  std::vector<Shdr> sections(static_cast<size_t>(count));
  if (!read_at(fd, offset, sections.data(), sections.size() * sizeof(Shdr)))
    return corrupt("unreadable section headers");
  if (names_index == SHN_UNDEF || names_index >= count) {
    return corrupt("section name table index " + std::to_string(names_index) + ", but " +
                   std::to_string(count) + " sections");
  }
  const Shdr& names_header = sections[static_cast<size_t>(names_index)];
  if (names_header.sh_type != SHT_STRTAB)
    return corrupt("the section name table is no string table");
  if (names_header.sh_size == 0 || names_header.sh_size > kMaxNameTable ||
      !inside(names_header.sh_offset, names_header.sh_size, file_size)) {
    return corrupt("the section name table (" + std::to_string(names_header.sh_size) +
                   " bytes at offset " + std::to_string(names_header.sh_offset) +
                   ") does not fit in the file, " + std::to_string(file_size) + " bytes");
  }
  std::vector<char> names(static_cast<size_t>(names_header.sh_size));
  if (!read_at(fd, names_header.sh_offset, names.data(), names.size()))
    return corrupt("unreadable section name table");
  if (names.back() != '\0') return corrupt("the section name table does not end with a NUL");
  static constexpr char kSection[] = "dkplug";  // compared with its NUL
  for (const Shdr& section : sections) {
    if (section.sh_name >= names.size()) {
      return corrupt("a section name offset (" + std::to_string(section.sh_name) +
                     ") lies outside the section name table");
    }
    if (names.size() - section.sh_name >= sizeof(kSection) &&
        std::memcmp(names.data() + section.sh_name, kSection, sizeof(kSection)) == 0)
      return {};
  }
  return "not a detkit plugin: no 'dkplug' section (entry point 'detkit_plugin_v1' not found)";
}

}  // namespace

std::string elf_machine_name(unsigned machine) {
  switch (machine) {
    case EM_X86_64:
      return "x86-64";
    case EM_AARCH64:
      return "aarch64";
    case EM_386:
      return "i386";
    case EM_ARM:
      return "arm";
    case EM_RISCV:
      return "riscv";
    case EM_PPC64:
      return "ppc64";
    case EM_PPC:
      return "ppc";
    case EM_S390:
      return "s390x";
    case EM_MIPS:
      return "mips";
    case 258:  // EM_LOONGARCH (not in older <elf.h>)
      return "loongarch";
    default:
      return "ELF machine " + std::to_string(machine);
  }
}

std::string check_plugin_file(const std::string& path) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (the type is checked right after).
  FileHandle file;
  file.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (file.fd < 0) return std::string("cannot open the file: ") + std::strerror(errno);
  struct stat info {};
  if (::fstat(file.fd, &info) != 0)
    return std::string("cannot read the file: ") + std::strerror(errno);
  if (!S_ISREG(info.st_mode)) {
    return "not a regular file (" + file_type_name(info.st_mode) +
           "); only regular files can be plugins";
  }
  const auto file_size = static_cast<uint64_t>(info.st_size);
  if (file_size == 0) return "not a shared library (the file is empty)";
  unsigned char ident[EI_NIDENT] = {0};
  const size_t ident_size = file_size < EI_NIDENT ? static_cast<size_t>(file_size) : EI_NIDENT;
  if (!read_at(file.fd, 0, ident, ident_size)) return "cannot read the file";
  if (file_size < SELFMAG || std::memcmp(ident, ELFMAG, SELFMAG) != 0)
    return "not a shared library (the file is not an ELF object)";
  if (ident[EI_DATA] != ELFDATA2LSB && ident[EI_DATA] != ELFDATA2MSB)
    return corrupt("invalid byte-order byte " + std::to_string(ident[EI_DATA]));
  if (ident[EI_CLASS] != ELFCLASS32 && ident[EI_CLASS] != ELFCLASS64)
    return corrupt("invalid ELF class byte " + std::to_string(ident[EI_CLASS]));
  // e_machine sits at byte 18 in both ELF classes; name it before anything class-specific.
  unsigned char machine_bytes[2] = {0, 0};
  if (!read_at(file.fd, 18, machine_bytes, 2))
    return corrupt("no ELF header, the file is " + std::to_string(file_size) + " bytes");
  const unsigned machine = ident[EI_DATA] == ELFDATA2MSB
                               ? (machine_bytes[0] << 8u) | machine_bytes[1]
                               : (machine_bytes[1] << 8u) | machine_bytes[0];
  const std::string host = elf_machine_name(kHostMachine);
  if (machine != kHostMachine)
    return "built for " + elf_machine_name(machine) + ", this host is " + host;
  if (ident[EI_CLASS] != kHostClass) {
    return std::string("built as a ") + (ident[EI_CLASS] == ELFCLASS32 ? "32-bit" : "64-bit") +
           " ELF object, this host is " + (kHostClass == ELFCLASS64 ? "64-bit " : "32-bit ") + host;
  }
  if (ident[EI_DATA] != kHostData) {
    return "built for " + std::string(ident[EI_DATA] == ELFDATA2MSB ? "big" : "little") +
           "-endian " + host + ", this host is " + (kHostData == ELFDATA2LSB ? "little" : "big") +
           "-endian";
  }
  if (file_size < sizeof(Ehdr)) {
    return corrupt("the ELF header needs " + std::to_string(sizeof(Ehdr)) +
                   " bytes, the file has " + std::to_string(file_size));
  }
  Ehdr header{};
  if (!read_at(file.fd, 0, &header, sizeof(header))) return "cannot read the file";
  if (header.e_type != ET_DYN) {
    const char* type = header.e_type == ET_EXEC   ? "an executable"
                       : header.e_type == ET_REL  ? "an object file (.o)"
                       : header.e_type == ET_CORE ? "a core dump"
                                                  : "an ELF file of unknown type";
    return std::string("not a shared library (the file is ") + type + ")";
  }
  const std::string problem = check_program_headers(header, file_size);
  if (!problem.empty()) return problem;
  return check_sections(file.fd, header, file_size);
}

}  // namespace detkit::plugin_detail
