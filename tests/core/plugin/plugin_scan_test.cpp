// Hostile plugin files: static initialisers that abort, exit, throw, crash or hang (caught by the
// scan process), registrations that throw or hand over invalid components (rejected whole),
// crafted ELF bytes, FIFOs and symlink loops (checked before anything is opened), and the scan
// verdict cache (warm starts fork nothing; a corrupt cache is rescanned, never trusted). In each
// case the host survives, the file is REJECTED with its path and a reason, and others still load.
#include <elf.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "detkit/core/plugin_manager.h"
#include "detkit/core/runtime.h"
#include "detkit/registry.h"
#include "test_support.h"

namespace detkit {
namespace {

namespace fs = std::filesystem;

std::string fixture_dir(const std::string& case_name) {
  return std::string(DETKIT_FIXTURE_DIR) + "/" + case_name;
}

std::string fixture(const std::string& case_name, const std::string& plugin) {
  return fixture_dir(case_name) + "/libdetkit-" + plugin + ".so";
}

/// Sets an environment variable for one scope, restoring the old value after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    had_ = std::getenv(name) != nullptr;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (had_) {
      ::setenv(name_, old_.c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

PluginRecord load(const std::string& path) {
  initialize_runtime();
  return PluginManager::instance().load_file(path, "--plugin");
}

/// Every record's path must be the file's, its reason non-empty and one line.
void expect_rejected(const PluginRecord& record, const std::string& path,
                     const std::string& reason_part) {
  EXPECT_EQ(record.status, PluginStatus::rejected) << path;
  EXPECT_EQ(record.path, path);
  EXPECT_NE(record.reason.find(reason_part), std::string::npos) << path << ": " << record.reason;
  EXPECT_EQ(record.reason.find('\n'), std::string::npos) << record.reason;
}

void expect_good_plugin_still_loads() {
  const PluginRecord good = load(fixture("good", "fixturegood"));
  EXPECT_EQ(good.status, PluginStatus::loaded) << good.reason;
  EXPECT_NE(Registry::of(Kind::loss).find("FixtureLoss"), nullptr);
}

TEST(PluginScan, StaticInitialisersThatNeverReturnAreRejectedByTheScan) {
  testing::TempDir cache;
  ScopedEnv cache_dir("DETKIT_CACHE_DIR", cache.path());
  ScopedEnv scan("DETKIT_PLUGIN_SCAN", "1");
  struct Case {
    std::string plugin, reason;
    bool ignore_sigchld = false;  // a host that ignores SIGCHLD still gets the child's status
  };
  for (const Case& c : std::vector<Case>{
           {"initabort", "aborted while loading in the scan process (signal 6, SIGABRT"},
           {"initexit", "exited with status 3 while loading in the scan process", true},
           {"initthrow", "aborted while loading in the scan process (signal 6"},
           {"initsegv", "crashed while loading in the scan process (signal 11, SIGSEGV"}}) {
    const std::string path = fixture("init_" + c.plugin.substr(4), c.plugin);
    if (c.ignore_sigchld) ::signal(SIGCHLD, SIG_IGN);
    const PluginRecord record = load(path);
    if (c.ignore_sigchld) ::signal(SIGCHLD, SIG_DFL);
    expect_rejected(record, path, c.reason);
    EXPECT_NE(record.reason.find("it printed: fixture static initialiser running"),
              std::string::npos)
        << record.reason;
    EXPECT_EQ(record.scan, "scanned");
  }
  EXPECT_NE(load(fixture("init_throw", "initthrow"))
                .reason.find("terminate called after throwing an instance of "
                             "'std::runtime_error' /   what():  boom in a static initialiser"),
            std::string::npos)
      << load(fixture("init_throw", "initthrow")).reason;
  {
    ScopedEnv timeout("DETKIT_PLUGIN_SCAN_TIMEOUT", "0.5");
    const std::string hang = fixture("init_hang", "inithang");
    expect_rejected(load(hang), hang,
                    "timed out after 0.5 s while loading in the scan process "
                    "(DETKIT_PLUGIN_SCAN_TIMEOUT)");
  }
  expect_good_plugin_still_loads();
}

TEST(PluginScan, BadRegistrationRejectsThePluginWholeInProcess) {
  // With the scan off the host itself calls register_components: it must survive every case
  // and register nothing of a rejected plugin (each first hands over a valid loss).
  ScopedEnv scan("DETKIT_PLUGIN_SCAN", "0");
  struct Case {
    std::string plugin, reason;
  };
  for (const Case& c : std::vector<Case>{
           {"badkind",
            "registration failed: component 'AlienLoss' has kind number 4000000000, unknown to "
            "this detkit (kinds are 0..26"},
           {"regthrow",
            "registration failed: register_components threw: register_components "
            "exploded"},
           {"emptytype", "registration failed: a loss has an empty type name"},
           {"nofactory", "registration failed: component 'HollowLoss' (loss) has no factory"},
           {"noterror", "registration failed: " + std::string(1024, 'E')}}) {
    const std::string path = fixture(c.plugin, c.plugin);
    const PluginRecord record = load(path);
    expect_rejected(record, path, c.reason);
    EXPECT_EQ(record.scan, "");
    EXPECT_EQ(Registry::of(Kind::loss).find(c.plugin + "PartialLoss"), nullptr) << c.plugin;
  }
  // The unterminated buffer gives exactly its 1024 bytes, nothing read past it.
  EXPECT_EQ(load(fixture("noterror", "noterror")).reason,
            "registration failed: " + std::string(1024, 'E'));
  expect_good_plugin_still_loads();
}

/// The good fixture's bytes with `edit` applied, written as libdetkit-<name>.so in `dir`.
template <class Edit>
std::string crafted(const testing::TempDir& dir, const std::string& name, Edit edit) {
  std::string bytes = testing::read_file(fixture("good", "fixturegood"));
  edit(bytes);
  const std::string path = dir.file("libdetkit-" + name + ".so");
  testing::write_file(path, bytes);
  return path;
}

Elf64_Ehdr& header_of(std::string& bytes) {
  return *reinterpret_cast<Elf64_Ehdr*>(bytes.data());
}

Elf64_Shdr& section_of(std::string& bytes, size_t index) {
  return reinterpret_cast<Elf64_Shdr*>(bytes.data() + header_of(bytes).e_shoff)[index];
}

TEST(PluginScan, CraftedElfFilesAreRejectedWithoutReadingPastThem) {
  testing::TempDir dir;
  struct Case {
    std::string path, reason;
  };
  std::vector<Case> cases = {
      {crafted(dir, "tiny", [](std::string& b) { b.resize(10); }),
       "truncated or corrupt ELF file (no ELF header, the file is 10 bytes)"},
      {crafted(dir, "shortheader", [](std::string& b) { b.resize(40); }),
       "the ELF header needs 64 bytes, the file has 40"},
      {crafted(dir, "truncatedsections",
               [](std::string& b) { b.resize(header_of(b).e_shoff + 3 * sizeof(Elf64_Shdr)); }),
       "entries at offset"},
      {crafted(dir, "shoffbeyond", [](std::string& b) { header_of(b).e_shoff = b.size() + 4096; }),
       "starts beyond the end of the file"},
      {crafted(dir, "unterminatednames",
               [](std::string& b) {
                 Elf64_Shdr& names = section_of(b, header_of(b).e_shstrndx);
                 std::memset(b.data() + names.sh_offset, 'A', names.sh_size);
               }),
       "the section name table does not end with a NUL"},
      {crafted(dir, "namesindex",
               [](std::string& b) { header_of(b).e_shstrndx = header_of(b).e_shnum + 5; }),
       "section name table index"},
      {crafted(dir, "hugenames",
               [](std::string& b) {
                 section_of(b, header_of(b).e_shstrndx).sh_size = uint64_t{1} << 40;
               }),
       "the section name table (1099511627776 bytes"},
      {crafted(dir, "nameoffset", [](std::string& b) { section_of(b, 1).sh_name = 0xfffffff0u; }),
       "lies outside the section name table"},
      {crafted(dir, "shentsize", [](std::string& b) { header_of(b).e_shentsize = 7; }),
       "section header size 7, expected 64"},
      {crafted(dir, "phnum", [](std::string& b) { header_of(b).e_phnum = 0xfff0; }),
       "65520 program headers, at most 1024 are accepted"},
      {crafted(dir, "phoffbeyond", [](std::string& b) { header_of(b).e_phoff = b.size() - 8; }),
       "the program header table ("},
      {crafted(dir, "aarch64", [](std::string& b) { header_of(b).e_machine = EM_AARCH64; }),
       "built for aarch64, this host is x86-64"},
      {crafted(dir, "class32", [](std::string& b) { b[EI_CLASS] = ELFCLASS32; }),
       "built as a 32-bit ELF object, this host is 64-bit x86-64"},
      {crafted(dir, "executable", [](std::string& b) { header_of(b).e_type = ET_EXEC; }),
       "not a shared library (the file is an executable)"},
      {crafted(dir, "nosections", [](std::string& b) { header_of(b).e_shoff = 0; }),
       "not a detkit plugin: the ELF file has no section headers"},
  };
  for (const Case& c : cases)
    expect_rejected(load(c.path), c.path, c.reason);
  expect_good_plugin_still_loads();
}

TEST(PluginScan, OnlyRegularFilesAreCandidates) {
  testing::TempDir dir;
  const std::string fifo = dir.file("libdetkit-fifo.so");
  const std::string loop = dir.file("libdetkit-loop.so");
  const std::string broken = dir.file("libdetkit-broken.so");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  fs::create_symlink(loop, loop);
  fs::create_symlink(dir.file("nothing-here.so"), broken);
  initialize_runtime();
  PluginSearch search;
  search.command_line = {dir.path()};  // a folder scan must not open the FIFO (it would block)
  search.use_environment = false;
  search.use_default_folders = false;
  PluginManager::instance().load(search);
  auto record_of = [](const std::string& path) {
    for (const auto& record : PluginManager::instance().records()) {
      if (record.path == path) return record;
    }
    ADD_FAILURE() << "no record for " << path;
    return PluginRecord{};
  };
  expect_rejected(record_of(fifo), fifo, "not a regular file (a FIFO)");
  expect_rejected(record_of(loop), loop, "symlink loop");
  expect_rejected(record_of(broken), broken,
                  "broken symlink: it points to '" + dir.file("nothing-here.so") + "'");
  // Named on the command line, a loop is a symlink loop, not "file not found".
  const std::string requested = dir.file("libdetkit-loop2.so");
  fs::create_symlink(requested, requested);
  expect_rejected(load(requested), requested, "symlink loop");
  expect_good_plugin_still_loads();
}

}  // namespace
}  // namespace detkit
