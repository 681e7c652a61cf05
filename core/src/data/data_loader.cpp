// DataLoader: worker threads, a bounded prefetch window, ordered delivery, collation.
#include "detkit/core/data_loader.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <pthread.h>
#include <torch/torch.h>

#include <condition_variable>
#include <cstring>
#include <exception>
#include <limits>
#include <mutex>

#include "detkit/core/runtime.h"
#include "detkit/core/text.h"
#include "detkit/error.h"

namespace detkit {

uint64_t sample_seed(uint64_t seed, int64_t epoch, int64_t position) {
  return mix_seed(mix_seed(mix_seed(seed) ^ static_cast<uint64_t>(epoch)) ^
                  static_cast<uint64_t>(position));
}

void use_single_intra_op_thread() {
  // LibTorch initialises a thread's OpenMP team size lazily, from the process-wide setting, on
  // the thread's first parallel call; trigger that first so it cannot undo what follows.
  (void)at::get_num_threads();
  at::internal::lazy_init_num_threads();
  // omp_set_num_threads changes only the calling thread's setting. Looked up at run time so
  // libdetkit needs no OpenMP link; absent when LibTorch was built without OpenMP.
  using SetNumThreads = void (*)(int);
  static const auto set_num_threads =
      reinterpret_cast<SetNumThreads>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  if (set_num_threads != nullptr) set_num_threads(1);
}

ImageBatch collate(std::vector<PipelineSample> samples, int64_t size_divisor) {
  ImageBatch batch;
  if (samples.empty()) return batch;
  std::vector<torch::Tensor> images;
  for (const auto& sample : samples) {
    const std::string name =
        sample.meta.filename.empty() ? "a sample" : "'" + sample.meta.filename + "'";
    if (!sample.img.defined()) {
      throw DataError("collate: " + name + " has no image (is 'img' in Collect's keys?)");
    }
    if (sample.img.dim() != 3) {
      throw DataError("collate: the image of " + name + " is not 3-d (" +
                      std::to_string(sample.img.dim()) + "-d)");
    }
    images.push_back(sample.img_is_chw ? sample.img : sample.img.permute({2, 0, 1}));
    const torch::Tensor& first = images.front();
    const torch::Tensor& image = images.back();
    if (image.size(0) != first.size(0) || image.scalar_type() != first.scalar_type()) {
      throw DataError("collate: images of one batch differ: " + name + " is " +
                      std::to_string(image.size(0)) + "-channel " +
                      std::string(c10::toString(image.scalar_type())) + ", the first is " +
                      std::to_string(first.size(0)) + "-channel " +
                      std::string(c10::toString(first.scalar_type())));
    }
  }
  int64_t height = 0, width = 0;
  for (const auto& image : images) {
    height = std::max(height, image.size(1));
    width = std::max(width, image.size(2));
  }
  if (size_divisor > 1) {
    height = (height + size_divisor - 1) / size_divisor * size_divisor;
    width = (width + size_divisor - 1) / size_divisor * size_divisor;
  }
  // Row copies and zeroed padding only (no full memset): MMDetection pads with 0.
  const int64_t channels = images.front().size(0);
  batch.images = torch::empty({static_cast<int64_t>(images.size()), channels, height, width},
                              torch::TensorOptions().dtype(images.front().scalar_type()));
  const auto element = static_cast<size_t>(batch.images.element_size());
  auto* out = static_cast<uint8_t*>(batch.images.data_ptr());
  const size_t out_row = static_cast<size_t>(width) * element;
  for (size_t i = 0; i < images.size(); ++i) {
    const torch::Tensor image = images[i].contiguous();
    const int64_t h = image.size(1), w = image.size(2);
    const auto* in = static_cast<const uint8_t*>(image.data_ptr());
    const size_t in_row = static_cast<size_t>(w) * element;
    for (int64_t c = 0; c < channels; ++c) {
      uint8_t* plane = out + ((static_cast<size_t>(i) * channels + c) * height) * out_row;
      for (int64_t y = 0; y < h; ++y) {
        std::memcpy(plane + y * out_row, in + (c * h + y) * in_row, in_row);
        std::memset(plane + y * out_row + in_row, 0, out_row - in_row);
      }
      std::memset(plane + h * out_row, 0, (height - h) * out_row);
    }
  }
  batch.samples.reserve(samples.size());
  for (auto& sample : samples)
    batch.samples.push_back(sample.take_model_sample());
  return batch;
}

/// One pass over the dataset (one epoch): the plan, the worker threads and the shared state.
struct DataLoader::Pass {
  std::shared_ptr<const DatasetBase> dataset;
  DataLoaderOptions options;
  int64_t epoch = 0;
  /// Dataset index of every position of the epoch.
  std::vector<int64_t> order;
  int64_t batch_size = 1;
  int64_t num_batches = 0;
  /// Batches the workers may run ahead of the consumer.
  int64_t window = 1;

  std::mutex mutex;
  std::condition_variable work_cv;   // workers wait for room in the window
  std::condition_variable ready_cv;  // the consumer waits for its batch
  int64_t next_position = 0;
  int64_t consumed = 0;
  bool stopping = false;
  /// Per batch: the prepared samples of each position, and how many are still missing.
  std::vector<std::vector<std::vector<PipelineSample>>> loaded;
  std::vector<int64_t> missing;
  std::vector<std::optional<ImageBatch>> ready;
  /// The first batch that failed, and its exception.
  int64_t error_batch = std::numeric_limits<int64_t>::max();
  std::exception_ptr error;
  /// The worker threads; none when workers_per_gpu is 0 or no thread could be started.
  ThreadGroup workers{"DataLoader workers"};

  ~Pass() { shutdown(); }

  int64_t batch_of(int64_t position) const { return position / batch_size; }
  int64_t batch_length(int64_t batch) const {
    return std::min(batch_size, static_cast<int64_t>(order.size()) - batch * batch_size);
  }

  /// "loading sample 7 ('a.jpg', position 3 of epoch 0)".
  std::string describe(int64_t position) const {
    const int64_t index = order[static_cast<size_t>(position)];
    std::string file;
    try {
      file = "'" + dataset->data_info(static_cast<size_t>(index)).filename + "', ";
    } catch (...) {
    }
    return "loading sample " + std::to_string(index) + " (" + file + "position " +
           std::to_string(position) + " of epoch " + std::to_string(epoch) + ")";
  }

  /// Seeds this thread's random engine and prepares the sample at `position`.
  std::vector<PipelineSample> load(int64_t position) const {
    try {
      random_engine().seed(
          sample_seed(options.seed() + options.transform_seed_offset(), epoch, position));
      return dataset->prepare(static_cast<size_t>(order[static_cast<size_t>(position)]));
    } catch (const ConfigError& e) {
      throw ConfigError(describe(position) + ": " + e.what());
    } catch (const std::exception& e) {
      throw DataError(describe(position) + ": " + exception_message(e));
    } catch (...) {
      throw DataError(describe(position) + ": unknown exception");
    }
  }

  /// Collates the samples of one batch (all positions, in order).
  ImageBatch assemble(int64_t batch, std::vector<std::vector<PipelineSample>> slots) const {
    std::vector<PipelineSample> samples;
    for (auto& slot : slots) {
      for (auto& sample : slot)
        samples.push_back(std::move(sample));
    }
    try {
      return collate(std::move(samples), options.size_divisor());
    } catch (const std::exception& e) {
      throw DataError("collating batch " + std::to_string(batch) + " of epoch " +
                      std::to_string(epoch) + ": " + exception_message(e));
    }
  }

  /// Stores the prepared samples of `position`; returns the batch's samples when it is complete.
  std::optional<std::vector<std::vector<PipelineSample>>> store(
      int64_t position, std::vector<PipelineSample> samples) {
    const int64_t batch = batch_of(position);
    auto& slots = loaded[static_cast<size_t>(batch)];
    if (slots.empty()) slots.resize(static_cast<size_t>(batch_length(batch)));
    slots[static_cast<size_t>(position - batch * batch_size)] = std::move(samples);
    if (--missing[static_cast<size_t>(batch)] > 0) return std::nullopt;
    return std::move(slots);
  }

  void record_error(int64_t batch, std::exception_ptr exception) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (batch < error_batch) {
        error_batch = batch;
        error = std::move(exception);
      }
    }
    work_cv.notify_all();
    ready_cv.notify_all();
  }

  void worker_loop() {
    use_single_intra_op_thread();
    // Named after LibTorch's lazy thread set-up above, which may start pool threads (they
    // would inherit the name): every "detkit-loader" thread is a worker.
    pthread_setname_np(pthread_self(), "detkit-loader");
    const auto total = static_cast<int64_t>(order.size());
    for (;;) {
      int64_t position = 0;
      {
        std::unique_lock<std::mutex> lock(mutex);
        work_cv.wait(lock, [&] {
          return stopping || next_position >= total || batch_of(next_position) >= error_batch ||
                 batch_of(next_position) < consumed + window;
        });
        if (stopping || next_position >= total || batch_of(next_position) >= error_batch) return;
        position = next_position++;
      }
      const int64_t batch = batch_of(position);
      std::optional<std::vector<std::vector<PipelineSample>>> complete;
      try {
        std::vector<PipelineSample> samples = load(position);
        std::lock_guard<std::mutex> lock(mutex);
        if (stopping) return;
        complete = store(position, std::move(samples));
      } catch (...) {
        record_error(batch, std::current_exception());
        continue;
      }
      if (!complete) continue;
      try {
        ImageBatch collated = assemble(batch, std::move(*complete));
        std::lock_guard<std::mutex> lock(mutex);
        ready[static_cast<size_t>(batch)] = std::move(collated);
      } catch (...) {
        record_error(batch, std::current_exception());
        continue;
      }
      ready_cv.notify_all();
    }
  }

  /// Stops the workers (each finishes the sample it is preparing) and joins them.
  void shutdown() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stopping = true;
    }
    work_cv.notify_all();
    ready_cv.notify_all();
    workers.join();
  }
};

DataLoader::DataLoader(std::shared_ptr<const DatasetBase> dataset, DataLoaderOptions options)
    : DataLoader(dataset, nullptr, options) {}

DataLoader::DataLoader(std::shared_ptr<const DatasetBase> dataset,
                       std::shared_ptr<const Sampler> sampler, DataLoaderOptions options)
    : dataset_(std::move(dataset)), sampler_(std::move(sampler)), options_(options) {
  if (!dataset_) throw Error("DataLoader: the dataset is null");
  if (options_.samples_per_gpu() < 1) {
    throw ConfigError("DataLoader: samples_per_gpu must be >= 1, got " +
                      std::to_string(options_.samples_per_gpu()));
  }
  if (options_.workers_per_gpu() < 0) {
    throw ConfigError("DataLoader: workers_per_gpu must be >= 0, got " +
                      std::to_string(options_.workers_per_gpu()));
  }
  if (options_.size_divisor() < 0) {
    throw ConfigError("DataLoader: size_divisor must be >= 0, got " +
                      std::to_string(options_.size_divisor()));
  }
  if (options_.prefetch_factor() < 1) {
    throw ConfigError("DataLoader: prefetch_factor must be >= 1, got " +
                      std::to_string(options_.prefetch_factor()));
  }
  if (!sampler_) {
    if (options_.shuffle()) {
      sampler_ =
          std::make_shared<GroupSampler>(dataset_->group_flags(), options_.samples_per_gpu());
    } else {
      sampler_ = std::make_shared<SequentialSampler>(dataset_->size());
    }
  }
}

DataLoader::~DataLoader() {
  stop();
}

size_t DataLoader::num_batches() const {
  const auto spg = static_cast<size_t>(options_.samples_per_gpu());
  return (sampler_->size() + spg - 1) / spg;
}

void DataLoader::set_epoch(int64_t epoch) {
  stop();
  epoch_ = epoch;
  epoch_was_set_ = true;
}

void DataLoader::stop() {
  if (pass_) pass_->shutdown();
  pass_.reset();
}

void DataLoader::start_pass() {
  if (!epoch_was_set_) ++epoch_;
  epoch_was_set_ = false;
  auto pass = std::make_unique<Pass>();
  pass->dataset = dataset_;
  pass->options = options_;
  pass->epoch = epoch_;
  pass->order = sampler_->indices(options_.seed(), epoch_);
  for (int64_t index : pass->order) {
    if (index < 0 || static_cast<size_t>(index) >= dataset_->size()) {
      throw Error("DataLoader: the sampler produced index " + std::to_string(index) +
                  " for a dataset of " + std::to_string(dataset_->size()) + " samples");
    }
  }
  pass->batch_size = options_.samples_per_gpu();
  const auto total = static_cast<int64_t>(pass->order.size());
  pass->num_batches = (total + pass->batch_size - 1) / pass->batch_size;
  // Workers are capped at a multiple of the cores (thread_count warns); when the system refuses
  // threads the pass goes on with those that started, or loads in the consumer's thread (as with
  // workers_per_gpu = 0) if none did.
  const int64_t wanted = std::min<int64_t>(options_.workers_per_gpu(), total);
  const int workers = wanted < 1
                          ? 0
                          : thread_count(static_cast<int>(std::min<int64_t>(wanted, 1 << 20)),
                                         "DataLoader workers_per_gpu");
  pass->window = std::max<int64_t>(1, workers * options_.prefetch_factor());
  pass->loaded.resize(static_cast<size_t>(pass->num_batches));
  pass->ready.resize(static_cast<size_t>(pass->num_batches));
  pass->missing.resize(static_cast<size_t>(pass->num_batches));
  for (int64_t b = 0; b < pass->num_batches; ++b) {
    pass->missing[static_cast<size_t>(b)] = pass->batch_length(b);
  }
  Pass* raw = pass.get();
  pass_ = std::move(pass);
  raw->workers.start(workers, [raw] { raw->worker_loop(); });
}

std::optional<ImageBatch> DataLoader::next() {
  if (!pass_) start_pass();
  for (;;) {
    Pass& pass = *pass_;
    if (pass.consumed >= pass.num_batches) {
      stop();
      return std::nullopt;
    }
    const int64_t batch_index = pass.consumed;
    std::optional<ImageBatch> batch;
    if (pass.workers.empty()) {
      // Loading in this thread (workers_per_gpu = 0, or no worker thread could be started).
      try {
        std::vector<std::vector<PipelineSample>> slots;
        for (int64_t i = 0; i < pass.batch_length(batch_index); ++i) {
          slots.push_back(pass.load(batch_index * pass.batch_size + i));
        }
        batch = pass.assemble(batch_index, std::move(slots));
      } catch (...) {
        stop();
        throw;
      }
      ++pass.consumed;
    } else {
      std::exception_ptr error;
      {
        std::unique_lock<std::mutex> lock(pass.mutex);
        auto& slot = pass.ready[static_cast<size_t>(batch_index)];
        pass.ready_cv.wait(lock,
                           [&] { return slot.has_value() || pass.error_batch <= batch_index; });
        if (slot.has_value()) {
          batch = std::move(slot);
          slot.reset();
          ++pass.consumed;
        } else {
          error = pass.error;
        }
      }
      if (error) {
        stop();
        std::rethrow_exception(error);
      }
      pass.work_cv.notify_all();
    }
    if (batch->size() > 0) return batch;  // else every sample was dropped: skip the batch
  }
}

}  // namespace detkit
