// DataLoader: MMDetection's build_dataloader + PyTorch's DataLoader, in threads. Batches of
// `samples_per_gpu` samples from a DatasetBase, loaded and transformed by `workers_per_gpu`
// threads with a bounded prefetch window, collated into ImageBatch (images zero-padded to the
// largest image of the batch, then to a multiple of size_divisor).
//
//   detkit::DataLoader loader(dataset, detkit::DataLoaderOptions().samples_per_gpu(2));
//   for (int64_t epoch = 0; epoch < max_epochs; ++epoch) {
//     loader.set_epoch(epoch);
//     while (auto batch = loader.next()) train_step(*batch);
//   }
//
// Threads. Each worker thread runs DatasetBase::prepare (decode + pipeline) for one sample at a
// time and collates a batch when it completes its last sample. Workers keep LibTorch's intra-op
// parallelism to one thread *in their own thread* (OpenMP's per-thread setting; the process-wide
// at::set_num_threads is left alone), so W workers never start W x cores OpenMP threads and the
// training thread keeps all its intra-op threads. The built-in transforms do their image work in
// OpenCV, whose TBB pool is shared by all threads and sized to the machine. Workers are named
// "detkit-loader" (top -H, gdb). Note: LibTorch re-creates its small global pthreadpool (used
// by QNNPACK/XNNPACK only) whenever a thread first initialises its intra-op settings, so its
// threads come and go as workers start; that is LibTorch's behaviour, not a leak.
//
// DatasetBase::prepare (and so every transform's apply) is called from several threads at once
// on the same objects: it must not modify shared state. The built-in transforms only read their
// options.
//
// Reproducibility. The sampler's order depends on (seed, epoch) only. Before each sample is
// prepared, random_engine() of the thread doing it is seeded from (seed, epoch, position of
// the sample in the epoch), so the same seed gives the same batches and the same random
// transforms whatever the number of workers (a repeated index, e.g. GroupSampler's padding,
// gets its own draws). With workers_per_gpu = 0 that is the engine of the thread calling next().
//
// Errors and stopping. An exception while preparing or collating a sample is rethrown by
// next() when the consumer reaches that batch (earlier batches are delivered first), as a
// DataError (ConfigError for config problems) naming the sample's position, dataset index and
// file; all worker threads are stopped and joined before it propagates. Stopping early
// (stop(), set_epoch(), or destroying the loader) joins the workers without waiting for the
// rest of the epoch.
#pragma once

#include <torch/arg.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "detkit/core/samplers.h"
#include "detkit/data/dataset.h"
#include "detkit/structures/image_batch.h"

namespace detkit {

/// Options of DataLoader; names as MMDetection's data config (samples_per_gpu, workers_per_gpu).
struct DETKIT_API DataLoaderOptions {
  /// Samples per batch.
  TORCH_ARG(int64_t, samples_per_gpu) = 2;
  /// Worker threads; 0 loads in the thread that calls next().
  TORCH_ARG(int64_t, workers_per_gpu) = 2;
  /// GroupSampler (true, training) or sequential order (false, testing).
  TORCH_ARG(bool, shuffle) = true;
  /// Seed of the sampler and of every sample's random transforms.
  TORCH_ARG(uint64_t, seed) = 0;
  /// Added to `seed` for the random transforms only (a distributed run's ranks share the
  /// sampler's seed and differ here, as MMDetection's worker_init_fn seeds by rank).
  TORCH_ARG(uint64_t, transform_seed_offset) = 0;
  /// Batch images are padded to multiples of this (after the largest image); 0 or 1 = none.
  TORCH_ARG(int64_t, size_divisor) = 32;
  /// Batches each worker may prepare ahead of the consumer (PyTorch's prefetch_factor); the
  /// loader holds at most workers * prefetch_factor batches in memory.
  TORCH_ARG(int64_t, prefetch_factor) = 2;
};

/// Loads batches of a dataset with worker threads. Used from one consumer thread.
class DETKIT_API DataLoader {
 public:
  /// Uses GroupSampler (shuffle) or SequentialSampler. Throws Error on invalid options.
  DataLoader(std::shared_ptr<const DatasetBase> dataset, DataLoaderOptions options = {});
  /// Uses the given sampler.
  DataLoader(std::shared_ptr<const DatasetBase> dataset, std::shared_ptr<const Sampler> sampler,
             DataLoaderOptions options);
  /// Stops and joins the workers.
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  /// The next batch of the current pass, or nullopt at its end (the following call starts a new
  /// pass). Batches whose samples were all dropped are skipped. Rethrows a worker's exception
  /// (see the file comment).
  std::optional<ImageBatch> next();
  /// Sets the epoch of the next pass and stops the current one. Without it, each pass after the
  /// first uses the previous pass's epoch + 1.
  void set_epoch(int64_t epoch);
  /// The epoch of the current pass (or of the next one when none is running).
  int64_t epoch() const { return epoch_; }
  /// Ends the current pass now, joining the workers; the next call to next() starts a new pass.
  void stop();
  /// Batches per pass (MMDetection's len(data_loader)), counting batches that may be skipped.
  size_t num_batches() const;
  const DataLoaderOptions& options() const { return options_; }
  const Sampler& sampler() const { return *sampler_; }

 private:
  struct Pass;
  void start_pass();

  std::shared_ptr<const DatasetBase> dataset_;
  std::shared_ptr<const Sampler> sampler_;
  DataLoaderOptions options_;
  int64_t epoch_ = 0;
  bool epoch_was_set_ = true;
  std::unique_ptr<Pass> pass_;
};

/// Stacks samples into an ImageBatch: every image (C, H, W) — an (H, W, C) image is transposed
/// — is copied into a zero tensor of (N, C, H_max, W_max), H_max and W_max rounded up to
/// size_divisor, MMDetection's DataContainer(stack=True, padding_value=0) collate. Each
/// sample's `img` is released. Throws DataError when a sample has no image or images differ in
/// channels or dtype.
DETKIT_API ImageBatch collate(std::vector<PipelineSample> samples, int64_t size_divisor);

/// The seed of random_engine() for sample `position` of `epoch` (see the file comment).
DETKIT_API uint64_t sample_seed(uint64_t seed, int64_t epoch, int64_t position);

/// Limits LibTorch's intra-op parallelism of the calling thread to one thread (OpenMP builds),
/// without touching other threads or the process-wide setting. Called by loader workers.
DETKIT_API void use_single_intra_op_thread();

}  // namespace detkit
