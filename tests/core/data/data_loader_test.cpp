// DataLoader and samplers: batching, padding, GroupSampler groups, reproducibility whatever the
// worker count, bounded prefetch and early stop (counted, not timed), worker exceptions, threads.
#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include <unistd.h>
#include <opencv2/imgcodecs.hpp>

#include "data_test_utils.h"
#include "detkit/core/coco_eval.h"
#include "detkit/core/coco_json.h"
#include "detkit/core/data_loader.h"
#include "detkit/core/runtime.h"
#include "detkit/core/synthetic_data.h"
#include "test_support.h"

namespace detkit::testing {
namespace {

/// Images made in memory (no files): sample i is an (h, w, 3) uint8 image whose channel 0 holds
/// x, channel 1 holds y and channel 2 holds i, with one box; the pipeline runs on it.
class SyntheticDataset : public DatasetBase {
 public:
  /// `sizes` are (h, w); prepare(fail_index) throws a DataError.
  SyntheticDataset(std::vector<std::array<int64_t, 2>> sizes, Pipeline pipeline,
                   int64_t fail_index = -1)
      : pipeline_(std::move(pipeline)), fail_index_(fail_index) {
    for (size_t i = 0; i < sizes.size(); ++i) {
      DataInfo info;
      info.filename = "img_" + std::to_string(i) + ".png";
      info.image_id = static_cast<int64_t>(i);
      info.height = sizes[i][0];
      info.width = sizes[i][1];
      infos_.push_back(info);
    }
  }

  size_t size() const override { return infos_.size(); }
  const std::vector<std::string>& classes() const override {
    static const std::vector<std::string> names = {"thing"};
    return names;
  }
  const DataInfo& data_info(size_t index) const override { return infos_.at(index); }
  bool test_mode() const override { return false; }

  std::vector<PipelineSample> prepare(size_t index) const override {
    {
      std::lock_guard<std::mutex> lock(log_mutex_);
      log_.push_back({static_cast<int64_t>(index), requested.load()});
      ++prepared;
    }
    prepared_cv_.notify_all();
    worker_threads_seen = std::max(worker_threads_seen.load(), at::get_num_threads());
    if (static_cast<int64_t>(index) == fail_index_) throw DataError("synthetic failure");
    const DataInfo& info = infos_[index];
    PipelineSample sample;
    sample.meta.filename = info.filename;
    sample.meta.index = static_cast<int64_t>(index);
    sample.meta.image_id = info.image_id;
    sample.img = coordinate_image(info.height, info.width);
    sample.img.select(2, 2).fill_(static_cast<int64_t>(index));
    sample.meta.ori_shape = sample.meta.img_shape =
        sample.meta.pad_shape = {info.height, info.width, 3};
    sample.ann = Instances(Boxes(box_tensor({{1, 1, static_cast<float>(info.width - 1),
                                              static_cast<float>(info.height - 1)}})),
                           torch::tensor({0}, torch::kInt64));
    return pipeline_(sample);
  }

  /// Waits until prepare() has been called `count` times; false if that has not happened after
  /// a minute (a guard against hanging, not a timing: correct code never gets near it).
  bool wait_for_prepared(int count) const {
    std::unique_lock<std::mutex> lock(log_mutex_);
    return prepared_cv_.wait_for(lock, std::chrono::minutes(1),
                                 [&] { return prepared.load() >= count; });
  }

  /// Each prepare() call so far: (index, value of `requested` when it was called).
  std::vector<std::pair<int64_t, int64_t>> prepare_log() const {
    std::lock_guard<std::mutex> lock(log_mutex_);
    return log_;
  }

  mutable std::atomic<int> prepared{0};
  mutable std::atomic<int> worker_threads_seen{0};
  /// Set by a test to the number of batches it has asked the loader for (before asking).
  std::atomic<int64_t> requested{0};

 private:
  mutable std::mutex log_mutex_;
  mutable std::condition_variable prepared_cv_;
  mutable std::vector<std::pair<int64_t, int64_t>> log_;
  std::vector<DataInfo> infos_;
  Pipeline pipeline_;
  int64_t fail_index_;
};

const char* kFormatOnly =
    "[{type: LoadAnnotations}, {type: DefaultFormatBundle}, "
    "{type: Collect, keys: [img, gt_bboxes, gt_labels]}]";
const char* kRandomPipeline =
    "[{type: LoadAnnotations}, {type: RandomFlip, flip_ratio: 0.5}, "
    "{type: PhotoMetricDistortion}, {type: DefaultFormatBundle}, "
    "{type: Collect, keys: [img, gt_bboxes, gt_labels]}]";

std::shared_ptr<SyntheticDataset> dataset_of(std::vector<std::array<int64_t, 2>> sizes,
                                             const char* pipeline = kFormatOnly,
                                             int64_t fail_index = -1) {
  return std::make_shared<SyntheticDataset>(std::move(sizes), make_pipeline(pipeline), fail_index);
}

std::vector<ImageBatch> all_batches(DataLoader& loader) {
  std::vector<ImageBatch> batches;
  while (auto batch = loader.next())
    batches.push_back(std::move(*batch));
  return batches;
}

std::vector<int64_t> indices_of(const std::vector<ImageBatch>& batches) {
  std::vector<int64_t> indices;
  for (const auto& batch : batches) {
    for (const auto& sample : batch.samples)
      indices.push_back(sample.meta.index);
  }
  return indices;
}

/// Number of live loader worker threads (named "detkit-loader"). Counting all threads of the
/// process would also count LibTorch's pthreadpool, which LibTorch re-creates whenever a new
/// thread initialises its intra-op settings (its threads come and go on their own).
int worker_count() {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(entry.path() / "comm");
    std::string name;
    std::getline(comm, name);
    count += name == "detkit-loader" ? 1 : 0;
  }
  return count;
}

/// worker_count() once it equals `expected` (or after 30 s, so that a failure does not hang): a
/// joined thread can stay listed in /proc for a moment while the kernel finishes its exit, and a
/// started one is named only once it runs.
int settled_worker_count(int expected) {
  int count = worker_count();
  for (int i = 0; i < 3000 && count != expected; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    count = worker_count();
  }
  return count;
}

TEST(DataLoader, BatchesArePaddedToTheLargestImageAndTheDivisor) {
  auto dataset = dataset_of({{20, 30}, {24, 18}, {10, 10}, {31, 33}, {8, 40}});
  DataLoader loader(dataset,
                    DataLoaderOptions().samples_per_gpu(2).workers_per_gpu(2).shuffle(false));
  EXPECT_EQ(loader.num_batches(), 3u);
  const std::vector<ImageBatch> batches = all_batches(loader);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].images.sizes(), torch::IntArrayRef({2, 3, 32, 32}));
  EXPECT_EQ(batches[1].images.sizes(), torch::IntArrayRef({2, 3, 32, 64}));
  EXPECT_EQ(batches[2].images.sizes(), torch::IntArrayRef({1, 3, 32, 64}));
  EXPECT_EQ(indices_of(batches), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  for (const auto& batch : batches) {
    EXPECT_EQ(batch.images.scalar_type(), torch::kFloat32);
    for (int64_t i = 0; i < batch.size(); ++i) {
      const DetSample& sample = batch.samples[static_cast<size_t>(i)];
      const int64_t h = sample.meta.img_shape[0], w = sample.meta.img_shape[1];
      torch::Tensor expected = coordinate_image(h, w);
      expected.select(2, 2).fill_(sample.meta.index);
      const torch::Tensor image = batch.images[i];
      EXPECT_TRUE(torch::equal(image.slice(1, 0, h).slice(2, 0, w),
                               expected.permute({2, 0, 1}).to(torch::kFloat32)));
      EXPECT_TRUE(image.slice(1, h).eq(0).all().item<bool>());
      EXPECT_TRUE(image.slice(2, w).eq(0).all().item<bool>());
      EXPECT_EQ(sample.gt.size(), 1);
    }
  }
  DataLoader exact(dataset, DataLoaderOptions().samples_per_gpu(2).shuffle(false).size_divisor(0));
  auto first = exact.next();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->images.sizes(), torch::IntArrayRef({2, 3, 24, 30}));
}

TEST(GroupSampler, EveryBatchComesFromOneAspectRatioGroup) {
  // 4 wide (flag 1) and 3 tall (flag 0) images.
  auto dataset = dataset_of({{10, 20}, {20, 10}, {10, 20}, {20, 10}, {10, 20}, {20, 10}, {10, 20}});
  const std::vector<uint8_t> flags = dataset->group_flags();
  GroupSampler sampler(flags, 2);
  EXPECT_EQ(sampler.group_sizes(), (std::vector<size_t>{3, 4}));
  EXPECT_EQ(sampler.size(), 8u);  // ceil(3 / 2) * 2 + ceil(4 / 2) * 2
  std::set<std::vector<int64_t>> orders;
  for (int64_t epoch = 0; epoch < 6; ++epoch) {
    const auto order = sampler.indices(5, epoch);
    ASSERT_EQ(order.size(), 8u);
    EXPECT_EQ(order, sampler.indices(5, epoch));  // reproducible
    orders.insert(order);
    std::multiset<int64_t> tall, wide;
    for (size_t b = 0; b < order.size(); b += 2) {
      EXPECT_EQ(flags[order[b]], flags[order[b + 1]]) << "batch " << b / 2;
      (flags[order[b]] ? wide : tall).insert({order[b], order[b + 1]});
    }
    // Each group once, plus one repeated index for the odd group.
    EXPECT_EQ(std::set<int64_t>(wide.begin(), wide.end()), (std::set<int64_t>{0, 2, 4, 6}));
    EXPECT_EQ(wide.size(), 4u);
    EXPECT_EQ(std::set<int64_t>(tall.begin(), tall.end()), (std::set<int64_t>{1, 3, 5}));
    EXPECT_EQ(tall.size(), 4u);
  }
  EXPECT_GT(orders.size(), 3u);  // epochs shuffle differently
  EXPECT_THROW(GroupSampler(flags, 0), Error);

  DataLoader loader(dataset, DataLoaderOptions().samples_per_gpu(2).workers_per_gpu(2).seed(5));
  const auto batches = all_batches(loader);
  ASSERT_EQ(batches.size(), 4u);
  for (const auto& batch : batches) {
    EXPECT_EQ(flags[batch.samples[0].meta.index], flags[batch.samples[1].meta.index]);
  }
  EXPECT_EQ(indices_of(batches), sampler.indices(5, 0));
}

TEST(DataLoader, SameSeedSameBatchesWhateverTheWorkerCount) {
  std::vector<std::array<int64_t, 2>> sizes;
  for (int i = 0; i < 12; ++i)
    sizes.push_back({12 + i, 20 - i});
  auto dataset = dataset_of(sizes, kRandomPipeline);
  auto run = [&](int64_t workers, uint64_t seed) {
    DataLoader loader(dataset,
                      DataLoaderOptions().samples_per_gpu(3).workers_per_gpu(workers).seed(seed));
    std::vector<ImageBatch> batches = all_batches(loader);  // epoch 0
    for (auto& batch : all_batches(loader))
      batches.push_back(std::move(batch));  // epoch 1
    return batches;
  };
  const auto one = run(1, 7), two = run(2, 7), inline_load = run(0, 7), other_seed = run(2, 8);
  ASSERT_EQ(one.size(), two.size());
  ASSERT_EQ(one.size(), inline_load.size());
  bool any_flip = false, any_plain = false;
  for (size_t b = 0; b < one.size(); ++b) {
    EXPECT_TRUE(torch::equal(one[b].images, two[b].images)) << "batch " << b;
    EXPECT_TRUE(torch::equal(one[b].images, inline_load[b].images)) << "batch " << b;
    for (size_t i = 0; i < one[b].samples.size(); ++i) {
      EXPECT_EQ(one[b].samples[i].meta.index, two[b].samples[i].meta.index);
      EXPECT_EQ(one[b].samples[i].meta.flip, two[b].samples[i].meta.flip);
      EXPECT_TRUE(torch::equal(one[b].samples[i].gt.boxes().tensor(),
                               two[b].samples[i].gt.boxes().tensor()));
      (one[b].samples[i].meta.flip ? any_flip : any_plain) = true;
    }
  }
  EXPECT_TRUE(any_flip && any_plain);
  EXPECT_NE(indices_of(one), indices_of(other_seed));
  // Epochs differ, and a pass without set_epoch continues with the next epoch.
  const size_t half = one.size() / 2;
  EXPECT_NE(indices_of({one.begin(), one.begin() + half}),
            indices_of({one.begin() + half, one.end()}));
  DataLoader explicit_epoch(dataset,
                            DataLoaderOptions().samples_per_gpu(3).workers_per_gpu(2).seed(7));
  explicit_epoch.set_epoch(1);
  EXPECT_EQ(explicit_epoch.epoch(), 1);
  const auto epoch1 = all_batches(explicit_epoch);
  ASSERT_EQ(epoch1.size(), half);
  for (size_t b = 0; b < half; ++b)
    EXPECT_TRUE(torch::equal(epoch1[b].images, one[half + b].images));
}

TEST(DataLoader, PrefetchIsBounded) {
  // Counted, not timed. Workers may run workers * prefetch_factor = 2 batches ahead of the
  // batches the consumer has taken. After each next(), the test waits until the workers have
  // filled that window (they must), and every prepare() records how many batches the consumer
  // had asked for by then (the loader cannot have handed out more).
  constexpr int64_t kSamples = 40, kBatch = 2, kWindow = 2;
  auto dataset = dataset_of(std::vector<std::array<int64_t, 2>>(kSamples, {8, 8}));
  DataLoader loader(
      dataset,
      DataLoaderOptions().samples_per_gpu(kBatch).workers_per_gpu(2).prefetch_factor(1).shuffle(
          false));
  for (int64_t taken = 1; taken <= kSamples / kBatch; ++taken) {
    dataset->requested = taken;
    ASSERT_TRUE(loader.next());
    const int expected = static_cast<int>(std::min(kSamples, (taken + kWindow) * kBatch));
    ASSERT_TRUE(dataset->wait_for_prepared(expected))
        << "after batch " << taken << ": " << dataset->prepared.load() << " of " << expected
        << " samples prepared";
    // The window is full, and the workers wait for the consumer.
    EXPECT_EQ(dataset->prepared.load(), expected) << "after batch " << taken;
  }
  EXPECT_FALSE(loader.next());
  const auto log = dataset->prepare_log();
  ASSERT_EQ(log.size(), static_cast<size_t>(kSamples));
  for (const auto& [index, requested] : log) {
    // Sequential order: sample `index` is in batch index / kBatch.
    EXPECT_LT(index / kBatch, requested + kWindow)
        << "sample " << index << " prepared when " << requested << " batch(es) were asked for";
  }
}

TEST(DataLoader, StoppingEarlyJoinsTheWorkersWithoutFinishingThePass) {
  // Counted, not timed: 90 samples, 3 workers, prefetch_factor 2 (a window of 6 batches of 2).
  // After one batch the workers prepare 2 + 12 samples and wait; stopping (or destroying the
  // loader) must join them there, not after the other 76 samples of the pass.
  std::vector<std::array<int64_t, 2>> sizes(90, {8, 8});
  auto dataset = dataset_of(sizes);
  ASSERT_EQ(settled_worker_count(0), 0);
  {
    DataLoader loader(dataset, DataLoaderOptions().samples_per_gpu(2).workers_per_gpu(3));
    ASSERT_TRUE(loader.next());
    ASSERT_TRUE(dataset->wait_for_prepared(14)) << dataset->prepared.load();
    EXPECT_EQ(settled_worker_count(3), 3);
    loader.stop();
    EXPECT_EQ(settled_worker_count(0), 0);
    EXPECT_EQ(dataset->prepared.load(), 14);
    ASSERT_TRUE(loader.next());  // a new pass
    EXPECT_EQ(loader.epoch(), 1);
    ASSERT_TRUE(dataset->wait_for_prepared(28)) << dataset->prepared.load();
  }  // destroyed mid-pass
  EXPECT_EQ(settled_worker_count(0), 0);
  EXPECT_EQ(dataset->prepared.load(), 28);
}

TEST(DataLoader, AWorkerExceptionReachesTheConsumerWithTheSampleNamed) {
  std::vector<std::array<int64_t, 2>> sizes(12, {8, 8});
  for (int64_t workers : {0, 1, 3}) {
    SCOPED_TRACE(workers);
    auto dataset = dataset_of(sizes, kFormatOnly, /*fail_index=*/5);
    DataLoader loader(
        dataset, DataLoaderOptions().samples_per_gpu(2).workers_per_gpu(workers).shuffle(false));
    // Batches before the failing one arrive.
    ASSERT_TRUE(loader.next());
    ASSERT_TRUE(loader.next());
    expect_error<DataError>([&] { loader.next(); },
                            {"loading sample 5", "'img_5.png'", "epoch 0", "synthetic failure"});
    EXPECT_EQ(settled_worker_count(0), 0);  // all workers stopped
    // The next call starts a new pass (which meets the same sample again).
    ASSERT_TRUE(loader.next());
  }
}

TEST(DataLoader, ConfigErrorsInThePipelineStayConfigErrors) {
  auto dataset = dataset_of({{8, 8}, {8, 8}}, "[{type: Resize}, {type: DefaultFormatBundle}]");
  DataLoader loader(dataset, DataLoaderOptions().workers_per_gpu(2).shuffle(false));
  expect_error<ConfigError>([&] { loader.next(); },
                            {"loading sample 0", "Resize (pipeline step 1)", "no img_scale"});
}

TEST(DataLoader, WorkersUseOneIntraOpThreadAndLeaveTheMainThreadAlone) {
  initialize_runtime();  // sets the process's intra-op threads to the cores
  const int main_threads = at::get_num_threads();
  std::vector<std::array<int64_t, 2>> sizes(8, {8, 8});
  auto dataset = dataset_of(sizes);
  DataLoader loader(dataset, DataLoaderOptions().workers_per_gpu(2));
  all_batches(loader);
  EXPECT_EQ(dataset->worker_threads_seen.load(), 1);
  EXPECT_EQ(at::get_num_threads(), main_threads);
}

TEST(DataLoader, DroppedSamplesAndFanOut) {
  // Without ground truth every crop is dropped (and the training dataset would draw another
  // sample); here nothing is left, so no batch at all.
  auto dropping = dataset_of(std::vector<std::array<int64_t, 2>>(4, {30, 30}),
                             "[{type: LoadAnnotations, with_bbox: false}, "
                             "{type: RandomCrop, crop_size: [2, 2]}]");
  DataLoader none(dropping, DataLoaderOptions().workers_per_gpu(2).shuffle(false));
  EXPECT_EQ(none.num_batches(), 2u);
  EXPECT_FALSE(none.next());
  EXPECT_EQ(dropping->prepared.load(), 4);

  // Test-time augmentation: each prepare() returns two versions.
  auto tta = dataset_of({{10, 12}, {14, 8}, {9, 9}},
                        "[{type: MultiScaleFlipAug, img_scale: [[24, 24], [12, 12]], transforms: "
                        "[{type: Resize, keep_ratio: true}, {type: ImageToTensor, keys: [img]}, "
                        "{type: Collect, keys: [img]}]}]");
  DataLoader loader(tta, DataLoaderOptions().samples_per_gpu(2).workers_per_gpu(1).shuffle(false));
  const auto batches = all_batches(loader);
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0].size(), 4);
  EXPECT_EQ(batches[1].size(), 2);
  EXPECT_EQ(indices_of(batches), (std::vector<int64_t>{0, 0, 1, 1, 2, 2}));
  EXPECT_EQ(batches[0].images.scalar_type(), torch::kUInt8);
}

TEST(DataLoader, InvalidOptionsAndCollateErrors) {
  auto dataset = dataset_of({{8, 8}});
  EXPECT_THROW(DataLoader(dataset, DataLoaderOptions().samples_per_gpu(0)), ConfigError);
  EXPECT_THROW(DataLoader(dataset, DataLoaderOptions().workers_per_gpu(-1)), ConfigError);
  EXPECT_THROW(DataLoader(nullptr, DataLoaderOptions()), Error);

  std::vector<PipelineSample> samples(2);
  samples[0].img = torch::zeros({3, 4, 4});
  samples[0].img_is_chw = true;
  samples[1].img = torch::zeros({4, 4, 1});
  samples[1].meta.filename = "gray.png";
  expect_error<DataError>([&] { collate(samples, 32); }, {"'gray.png'", "1-channel"});
  samples[1].img = torch::Tensor();
  expect_error<DataError>([&] { collate(samples, 32); }, {"no image"});
  EXPECT_EQ(collate({}, 32).size(), 0);
}

/// Whether T has a member `img` (the pipeline's staging image).
template <class T, class = void>
struct HasImg : std::false_type {};
template <class T>
struct HasImg<T, std::void_t<decltype(std::declval<T>().img)>> : std::true_type {};

TEST(DataLoader, CollateHandsModelsTheirPartOnly) {
  // What a model sees carries no pipeline staging (MMDetection 3's DetDataSample vs results).
  static_assert(!HasImg<DetSample>::value, "DetSample must not carry the pipeline's image");
  static_assert(HasImg<PipelineSample>::value);
  std::vector<PipelineSample> samples(2);
  for (int i = 0; i < 2; ++i) {
    samples[i].img = torch::full({3, 2 + i, 3}, i + 1, torch::kFloat);
    samples[i].img_is_chw = true;
    samples[i].meta.filename = "image" + std::to_string(i) + ".png";
    samples[i].gt = Instances(Boxes(torch::tensor({{0.0f, 0.0f, 1.0f + i, 1.0f}})),
                              torch::tensor({int64_t{i}}));
    samples[i].ann = samples[i].gt;
  }
  const ImageBatch batch = collate(std::move(samples), 1);
  ASSERT_EQ(batch.size(), 2);
  EXPECT_EQ(batch.images.sizes(), (std::vector<int64_t>{2, 3, 3, 3}));
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(batch.samples[i].meta.filename, "image" + std::to_string(i) + ".png");
    EXPECT_EQ(batch.samples[i].gt.labels().item<int64_t>(), i);
    EXPECT_EQ(batch.samples[i].gt.boxes().tensor()[0][2].item<float>(), 1.0f + i);
    // Image i sits top-left in its slot, zero padding below it.
    EXPECT_EQ(batch.images[i][0][0][0].item<float>(), i + 1.0f);
  }
  EXPECT_EQ(batch.images[0][0][2][0].item<float>(), 0.0f);
}

TEST(DataLoader, AnEmptyDatasetHasNoBatches) {
  auto empty = dataset_of({});
  DataLoader loader(empty, DataLoaderOptions().workers_per_gpu(2));
  EXPECT_EQ(loader.num_batches(), 0u);
  EXPECT_FALSE(loader.next());
  EXPECT_FALSE(loader.next());
}

TEST(BenchmarkLoader, TimesTheCocoPipelineOnSyntheticDataAndAnAnnotationFile) {
  const ProcessResult synthetic =
      run_detkit({"benchmark", "loader", "--synthetic", "2", "--synthetic-size", "64x48",
                  "--images", "4", "--workers", "0,2"});
  ASSERT_EQ(synthetic.exit_code, 0) << synthetic.err;
  EXPECT_NE(synthetic.out.find("2 synthetic 64x48 images"), std::string::npos) << synthetic.out;
  EXPECT_NE(synthetic.out.find("images/s"), std::string::npos);
  // The worker counts side by side: CPU time per image and the speed-up over the first row.
  EXPECT_NE(synthetic.out.find("CPU ms/image  speed-up"), std::string::npos) << synthetic.out;
  EXPECT_NE(synthetic.out.find("1.00x"), std::string::npos) << synthetic.out;
  EXPECT_NE(
      synthetic.out.find("best of 2 interleaved runs per row; speed-up relative to 0 workers"),
      std::string::npos)
      << synthetic.out;

  TempDir dir;
  std::filesystem::create_directories(dir.file("images"));
  for (int i = 0; i < 3; ++i) {
    const cv::Mat image(40 + i, 60, CV_8UC3, cv::Scalar(10 * i, 20, 30));
    ASSERT_TRUE(cv::imwrite(dir.file("images/" + std::to_string(i) + ".png"), image));
  }
  write_file(dir.file("ann.json"),
             R"({"images": [{"id": 1, "file_name": "0.png", "width": 60, "height": 40},
                            {"id": 2, "file_name": "1.png", "width": 60, "height": 41}],
                 "categories": [{"id": 7, "name": "box"}],
                 "annotations": [{"id": 1, "image_id": 1, "category_id": 7, "bbox": [1, 2, 10, 10],
                                  "area": 100, "iscrowd": 0}]})");
  const ProcessResult coco =
      run_detkit({"benchmark", "loader", "--data", dir.file("ann.json"), "--img-prefix",
                  dir.file("images"), "--images", "2", "--workers", "1"});
  ASSERT_EQ(coco.exit_code, 0) << coco.err;
  EXPECT_NE(coco.out.find("2 images of"), std::string::npos) << coco.out;

  const ProcessResult missing = run_detkit(
      {"benchmark", "loader", "--data", dir.file("ann.json"), "--images", "2", "--workers", "1"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find(".png': No such file"), std::string::npos) << missing.err;
  EXPECT_FALSE(missing.signaled);

  const ProcessResult folder = run_detkit({"benchmark", "loader", "--data", dir.file("images")});
  EXPECT_EQ(folder.exit_code, 1);
  EXPECT_NE(folder.err.find("is not a COCO annotation file"), std::string::npos) << folder.err;
}

/// Refuses thread starts after `allowed` more (as a low `ulimit -u` does) while in scope.
struct ThreadStartLimit {
  explicit ThreadStartLimit(int allowed) { limit_thread_starts_for_testing(allowed); }
  ~ThreadStartLimit() { limit_thread_starts_for_testing(-1); }
};

TEST(Threads, RefusedThreadStartsLeaveFewerThreadsNotACrash) {
  // ThreadGroup: stops at the refused start, warns once naming the purpose, joins on scope exit.
  {
    ThreadStartLimit limit(2);
    std::atomic<int> ran{0};
    ::testing::internal::CaptureStderr();
    {
      ThreadGroup group("test threads");
      EXPECT_EQ(group.start(5, [&] { ++ran; }), 2);
      EXPECT_EQ(group.size(), 2u);
    }  // destroyed without join(): joined, no std::terminate
    const std::string err = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(ran.load(), 2);
    EXPECT_NE(err.find("warning: test threads: the system refused a new thread after 2 of 5"),
              std::string::npos)
        << err;
  }
  // Each user of threads goes on with what it got. (case, what runs under the limit)
  std::vector<std::array<int64_t, 2>> sizes(10, {8, 8});
  auto dataset = dataset_of(sizes, kRandomPipeline);
  DataLoader reference_loader(dataset, DataLoaderOptions().workers_per_gpu(0).seed(3));
  const auto reference = indices_of(all_batches(reference_loader));
  for (int allowed : {0, 1}) {
    SCOPED_TRACE("loader, thread starts allowed: " + std::to_string(allowed));
    ThreadStartLimit limit(allowed);
    ::testing::internal::CaptureStderr();
    DataLoader loader(dataset, DataLoaderOptions().workers_per_gpu(3).seed(3));
    const auto batches = all_batches(loader);
    ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(indices_of(batches), reference);
  }
  {
    SCOPED_TRACE("data synth");
    TempDir dir;
    ThreadStartLimit limit(0);
    ::testing::internal::CaptureStderr();
    SyntheticDatasetOptions options;
    options.out_dir = dir.path();
    options.num_train = 3;
    options.num_val = 1;
    options.image_width = options.image_height = 32;
    options.threads = 4;
    const auto summary = generate_synthetic_dataset(options);
    ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(summary.train_images, 3);
    EXPECT_TRUE(std::filesystem::exists(dir.file("train/000003.jpg")) ||
                std::filesystem::exists(dir.file("train/000003.png")));
  }
  {
    SCOPED_TRACE("COCO evaluation");
    CocoGroundTruth gt = parse_coco_annotations(
        R"({"images": [{"id": 1, "file_name": "1.jpg", "width": 50, "height": 50},
                       {"id": 2, "file_name": "2.jpg", "width": 50, "height": 50}],
            "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10],
                             "area": 100, "iscrowd": 0},
                            {"id": 2, "image_id": 2, "category_id": 2, "bbox": [5, 5, 20, 20],
                             "area": 400, "iscrowd": 0}]})",
        "test");
    std::vector<CocoDetection> dets = {{1, 1, {0, 0, 10, 10}, 0.9}, {2, 2, {5, 5, 20, 20}, 0.8}};
    CocoEvalParams params;
    params.num_threads = 6;
    ThreadStartLimit limit(0);
    ::testing::internal::CaptureStderr();
    const CocoEvalResult result = evaluate_coco(gt, dets, params);
    ::testing::internal::GetCapturedStderr();
    EXPECT_NEAR(result.stats[0], 1.0, 1e-9);
  }
}

TEST(Threads, CountsAreCappedAtAMultipleOfTheCoresWithAWarning) {
  const int cap = max_threads();
  EXPECT_EQ(cap, std::max(kMinThreadCap, kThreadsPerCore * hardware_threads()));
  EXPECT_EQ(thread_count(0, "test cap"), hardware_threads());
  EXPECT_EQ(thread_count(cap, "test cap"), cap);
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(thread_count(5000, "test cap"), cap);
  EXPECT_EQ(thread_count(6000, "test cap"), cap);  // warned once per purpose
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("warning: test cap: 5000 threads requested, using " + std::to_string(cap)),
            std::string::npos)
      << err;
  EXPECT_EQ(err.find("6000"), std::string::npos) << err;

  setenv("DETKIT_MAX_THREADS", "3", 1);
  EXPECT_EQ(max_threads(), 3);
  EXPECT_EQ(thread_count(5, "test cap env"), 3);
  unsetenv("DETKIT_MAX_THREADS");

  // The loader starts at most the cap, whatever workers_per_gpu says.
  std::vector<std::array<int64_t, 2>> sizes(4 * cap, {8, 8});
  auto dataset = dataset_of(sizes);
  ::testing::internal::CaptureStderr();
  DataLoader loader(dataset, DataLoaderOptions().workers_per_gpu(100000).shuffle(false));
  ASSERT_TRUE(loader.next());
  EXPECT_LE(worker_count(), cap);
  loader.stop();
  ::testing::internal::GetCapturedStderr();
}

TEST(Threads, TheCliSurvivesAProcessLimit) {
  // A real limit: RLIMIT_NPROC binds only unprivileged users, so as root the CLI runs as
  // `nobody` (setpriv) under prlimit. Elsewhere ThreadStartLimit above stands in for it.
  // RLIMIT_NPROC counts every process of the user, so the limits below mean something only for
  // a user that runs nothing else; only root can start detkit as such a user. setpriv and
  // prlimit (util-linux) and timeout (coreutils) are in every Debian system.
  if (geteuid() != 0) {
    GTEST_SKIP() << "not root: cannot run detkit as an otherwise idle user, so a process limit "
                    "would count this user's other processes (ThreadStartLimit covers the same "
                    "code paths in-process)";
  }
  for (const char* tool : {"/usr/bin/setpriv", "/usr/bin/prlimit", "/usr/bin/timeout"})
    ASSERT_TRUE(std::filesystem::exists(tool)) << tool << " is missing (util-linux, coreutils)";
  TempDir dir;
  std::filesystem::permissions(dir.path(), std::filesystem::perms::all);
  // As many synth threads as detkit allows (more than the limit leaves), and images for each.
  const std::string threads = std::to_string(max_threads());
  const std::string images = std::to_string(max_threads() + 2);
  auto synth = [&](int nproc, const std::string& out) {
    const std::vector<std::string> argv = {"/usr/bin/timeout",
                                           "60",
                                           "/usr/bin/setpriv",
                                           "--reuid=65534",
                                           "--regid=65534",
                                           "--clear-groups",
                                           "/usr/bin/prlimit",
                                           "--nproc=" + std::to_string(nproc),
                                           DETKIT_CLI,
                                           "data",
                                           "synth",
                                           "--out",
                                           dir.file(out),
                                           "--num-train",
                                           images,
                                           "--num-val",
                                           "1",
                                           "--image-size",
                                           "32",
                                           "32",
                                           "--threads",
                                           threads};
    // One OpenCV and one intra-op thread: the threads below are LibTorch's pools and synth's.
    return run_process(argv,
                       {"DETKIT_PLUGIN_PATH=", "DETKIT_NUM_THREADS=1", "OPENCV_FOR_THREADS_NUM=1"});
  };
  // (limit, outcome) Too few threads for LibTorch's pools (it would hang): a clear error.
  // Enough for them: data synth goes on with fewer threads than asked for.
  const int pools = 2 * (hardware_threads() - 1);
  const ProcessResult none = synth(1, "none");
  EXPECT_FALSE(none.signaled) << none.err;
  EXPECT_EQ(none.err.find("terminate called"), std::string::npos) << none.err;
  if (pools > 0) {
    EXPECT_EQ(none.exit_code, 1) << none.err;
    EXPECT_NE(none.err.find("error: the system refuses new threads after 0 (ulimit -u is 1)"),
              std::string::npos)
        << none.err;
  }
  const ProcessResult few = synth(1 + pools, "few");
  EXPECT_FALSE(few.signaled) << few.err;
  EXPECT_EQ(few.err.find("terminate called"), std::string::npos) << few.err;
  EXPECT_NE(few.err.find("warning: data synth: the system refused a new thread"), std::string::npos)
      << few.err;
  // OpenCV's thread pool (TBB) may then be refused too: TBB throws, detkit reports it.
  if (few.exit_code != 0) {
    EXPECT_EQ(few.exit_code, 1);
    EXPECT_NE(few.err.find("detkit data: error: "), std::string::npos) << few.err;
  }
}

}  // namespace
}  // namespace detkit::testing
