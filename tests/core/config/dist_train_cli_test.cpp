// `detkit dist-train` without a distributed training: the ranks run a shell script
// (DETKIT_DIST_TRAIN_EXEC) that prints what it was given, fails, or traps signals, so that the
// command line, torchrun's variables, the prefixed output, failure handling and the passing on
// of signals are checked in a few seconds.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <sstream>
#include <thread>

#include "test_support.h"

namespace detkit {
namespace {

using testing::ProcessResult;
using testing::TempDir;
using Clock = std::chrono::steady_clock;

/// A config file (never read: the ranks are scripts) and a rank script running `body`.
struct RankScript {
  TempDir dir;
  std::string config = dir.file("cfg.yaml"), script = dir.file("rank.sh");
  std::vector<std::string> env;

  explicit RankScript(const std::string& body) {
    testing::write_file(config, "model: {}\n");
    testing::write_file(script, "#!/bin/sh\n" + body + "\n");
    EXPECT_EQ(::chmod(script.c_str(), 0755), 0);
    env = {"DETKIT_DIST_TRAIN_EXEC=" + script, "DIR=" + dir.path()};
  }
};

/// SIGKILLs a started dist-train when a failed assertion ends the test early (its ranks then get
/// SIGTERM through PR_SET_PDEATHSIG).
struct KillUnlessWaited {
  const testing::RunningProcess& process;
  bool waited = false;
  ~KillUnlessWaited() {
    if (!waited) ::kill(process.pid, SIGKILL), ::waitpid(process.pid, nullptr, 0);
  }
};

/// How many times `needle` occurs in `text`.
size_t count_of(const std::string& text, const std::string& needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
    ++count;
  return count;
}

/// Waits (at most 10 s) until the file `path` holds `needle` `count` times.
bool wait_for(const std::string& path, const std::string& needle, size_t count) {
  for (const auto end = Clock::now() + std::chrono::seconds(10); Clock::now() < end;) {
    std::string text;
    try {
      text = testing::read_file(path);
    } catch (const std::exception&) {
    }
    if (count_of(text, needle) >= count) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

TEST(DistTrain, RefusesBadCommandLinesWithStatus2BeforeStartingAnyRank) {
  RankScript setup("touch \"$DIR/started\"");
  const std::string cfg = setup.config;
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--nproc", "0", cfg}, "--nproc must be in 1 .. 1024, got 0"},
      {{"--nproc", "2", "--nnodes", "2", "--node-rank", "2", cfg},
       "--node-rank must be in 0 .. 1, got 2"},
      {{"--nproc", "1", "--nnodes", "0", cfg}, "--nnodes must be in 1 .."},
      {{"--nproc", "1", "--master-port", "70000", cfg},
       "--master-port must be in 1 .. 65535, got 70000"},
      {{"--nproc", "1"}, "missing argument CONFIG"},
      {{"--nproc", "1", setup.dir.file("nope.yaml")}, "nope.yaml: cannot open: no such file"},
      {{cfg}, "missing --nproc N"},
      {{"--nproc", "1", "--work-dir", "w", cfg}, "option '--work-dir' before CONFIG"},
      {{"--nproc", "1", cfg, "--no-such-flag"},
       "for detkit train: unrecognised option '--no-such-flag'"},
      {{"--nproc", "1", cfg, "extra"}, "unexpected argument 'extra'"},
      {{"--nproc", "1", cfg, "--launcher", "none"}, "--launcher pytorch itself"},
      {{"--nproc", "1", "--threads-per-proc", "2", cfg, "--threads", "3"}, "not both"},
      {{"--nproc", "1", "--threads-per-proc", "0", cfg}, "--threads-per-proc must be in 1 .."},
      {{"--nproc=x", cfg}, "the argument ('x') for option '--nproc' is invalid"},
  };
  std::vector<testing::RunningProcess> running;  // all at once: each costs a LibTorch start
  for (const auto& [args, says] : cases) {
    std::vector<std::string> line = {"dist-train"};
    line.insert(line.end(), args.begin(), args.end());
    running.push_back(testing::start_detkit(line, setup.env));
  }
  for (size_t i = 0; i < cases.size(); ++i) {
    const ProcessResult r = testing::wait_process(running[i]);
    SCOPED_TRACE(cases[i].second);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("detkit dist-train: error: "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(cases[i].second), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("usage: detkit dist-train"), std::string::npos) << r.err;
  }
  EXPECT_FALSE(std::filesystem::exists(setup.dir.file("started")));
}

TEST(DistTrain, EachRankGetsTorchrunsVariablesAndItsOutputIsPrefixedLineByLine) {
  RankScript setup(
      "echo \"rank=$RANK local=$LOCAL_RANK world=$WORLD_SIZE lws=$LOCAL_WORLD_SIZE "
      "addr=$MASTER_ADDR port=$MASTER_PORT args=$*\"\n"
      "echo \"to stderr from $RANK\" >&2\n"
      "i=0; while [ $i -lt 300 ]; do echo \"line $i of rank $RANK\"; i=$((i+1)); done\n"
      "printf 'no newline at the end'");
  setup.env.push_back("RANK=77");  // replaced, as torchrun does
  ProcessResult r = testing::run_detkit(
      {"dist-train", "--nproc", "2", "--nnodes", "2", "--node-rank", "1", "--master-addr",
       "10.1.2.3", "--master-port", "29555", "--threads-per-proc", "3", setup.config, "--work-dir",
       setup.dir.file("w"), "--seed", "5"},
      setup.env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const std::string rank : {"2", "3"}) {
    const std::string local = rank == "2" ? "0" : "1";
    EXPECT_NE(r.out.find("[rank " + rank + "] rank=" + rank + " local=" + local +
                         " world=4 lws=2 addr=10.1.2.3 port=29555 args=train " + setup.config +
                         " --work-dir " + setup.dir.file("w") +
                         " --seed 5 --launcher pytorch --threads 3\n"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.err.find("[rank " + rank + "] to stderr from " + rank + "\n"), std::string::npos)
        << r.err;
    EXPECT_NE(r.out.find("[rank " + rank + "] no newline at the end\n"), std::string::npos);
  }
  // Lines of the two ranks never mix within a line.
  std::istringstream lines(r.out);
  size_t count = 0;
  for (std::string line; std::getline(lines, line); ++count) {
    const std::string rank = line.substr(0, 9);
    ASSERT_TRUE(rank == "[rank 2] " || rank == "[rank 3] ") << line;
    if (line.find(" of rank ") != std::string::npos)
      EXPECT_EQ(line.substr(line.size() - 1), rank.substr(6, 1)) << line;
  }
  EXPECT_EQ(count, 2u * 302u);

  // Defaults: one machine, 127.0.0.1:29500; the user's --threads replaces --threads-per-proc.
  r = testing::run_detkit({"dist-train", "--nproc", "2", setup.config, "--threads", "1"},
                          setup.env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("[rank 1] rank=1 local=1 world=2 lws=2 addr=127.0.0.1 port=29500 "
                       "args=train " +
                       setup.config + " --threads 1 --launcher pytorch\n"),
            std::string::npos)
      << r.out;
}

TEST(DistTrain, AFailingRankStopsTheOthersAndGivesItsStatus) {
  RankScript setup("if [ \"$RANK\" = 1 ]; then echo bye; exit 3; fi\nsleep 60");
  const auto start = Clock::now();
  const ProcessResult r =
      testing::run_detkit({"dist-train", "--nproc", "2", setup.config}, setup.env);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.out.find("[rank 1] bye\n"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("detkit dist-train: rank 1 exited with status 3\n"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("detkit dist-train: rank 0 was killed by signal 15"), std::string::npos)
      << r.err;

  // A rank that ignores SIGTERM is killed after the grace period.
  RankScript ignores_term(
      "if [ \"$RANK\" = 1 ]; then while [ ! -e \"$DIR/ready\" ]; do sleep 0.05; done; exit 4; fi\n"
      "trap '' TERM; touch \"$DIR/ready\"; while :; do sleep 0.1; done");
  ignores_term.env.push_back("DETKIT_DIST_TRAIN_GRACE=0.5");
  const ProcessResult k =
      testing::run_detkit({"dist-train", "--nproc", "2", ignores_term.config}, ignores_term.env);
  EXPECT_EQ(k.exit_code, 4) << k.err;
  EXPECT_NE(k.err.find("rank 0 was killed by signal 9"), std::string::npos) << k.err;
}

TEST(DistTrain, SignalsArePassedOnOnceAndASecondSigintKills) {
  RankScript term(
      "trap 'echo \"rank $RANK got TERM\"; exit 7' TERM\necho ready\n"
      "while :; do sleep 0.1; done");
  const testing::RunningProcess running =
      testing::start_detkit({"dist-train", "--nproc", "2", term.config}, term.env);
  KillUnlessWaited guard{running};
  ASSERT_TRUE(wait_for(running.out_path, "] ready", 2));
  ASSERT_EQ(::kill(running.pid, SIGTERM), 0);
  ProcessResult r = testing::wait_process(running);
  guard.waited = true;
  EXPECT_EQ(r.exit_code, 7) << r.err;
  EXPECT_EQ(count_of(r.out, "[rank 0] rank 0 got TERM\n"), 1u) << r.out;
  EXPECT_EQ(count_of(r.out, "[rank 1] rank 1 got TERM\n"), 1u) << r.out;
  EXPECT_NE(r.err.find("passing signal 15"), std::string::npos) << r.err;

  RankScript interrupt(
      "trap 'echo \"rank $RANK got INT\"' INT\necho ready\nwhile :; do sleep 0.1; done");
  const testing::RunningProcess second =
      testing::start_detkit({"dist-train", "--nproc", "2", interrupt.config}, interrupt.env);
  KillUnlessWaited second_guard{second};
  ASSERT_TRUE(wait_for(second.out_path, "] ready", 2));
  ASSERT_EQ(::kill(second.pid, SIGINT), 0);
  ASSERT_TRUE(wait_for(second.out_path, " got INT", 2));
  ASSERT_EQ(::kill(second.pid, SIGINT), 0);
  r = testing::wait_process(second);
  second_guard.waited = true;
  EXPECT_EQ(r.exit_code, 128 + SIGKILL) << r.err;
  EXPECT_EQ(count_of(r.out, " got INT\n"), 2u) << r.out;  // once per rank
  EXPECT_NE(r.err.find("second SIGINT: killing the ranks"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("was killed by signal 9"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace detkit
