// `detkit checkpoint info FILE`: a checkpoint's meta (as YAML, multi-line texts such as the
// config summarised), its other top-level entries, one line per tensor (name, shape, dtype),
// then the totals.
#include <algorithm>
#include <iostream>

#include <fmt/format.h>

#include "cli.h"
#include "detkit/checkpoint.h"
#include "detkit/core/config.h"

namespace detkit::cli {

namespace {

/// "[64, 3, 7, 7]" (Python's list of a torch.Size).
std::string shape_text(const at::Tensor& tensor) {
  std::string out;
  for (const int64_t size : tensor.sizes())
    out += (out.empty() ? "" : ", ") + std::to_string(size);
  return "[" + out + "]";
}

/// `meta` with every multi-line string (MMDetection stores the whole config file in
/// meta.config) shortened to "(N lines of text)", so that the listing stays readable.
ConfigNode shorten_texts(const ConfigNode& node) {
  if (node.is_string() && node.as_string().find('\n') != std::string::npos) {
    const std::string& text = node.as_string();
    const size_t lines = static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) +
                         (text.back() == '\n' ? 0 : 1);
    return ConfigNode("(" + std::to_string(lines) + (lines == 1 ? " line" : " lines") +
                      " of text)");
  }
  ConfigNode out = node;
  if (node.is_map()) {
    for (auto& entry : out.entries())
      entry.value = shorten_texts(entry.value);
  } else if (node.is_list()) {
    for (auto& item : out.items())
      item = shorten_texts(item);
  }
  return out;
}

}  // namespace

int run_checkpoint_info(const std::vector<std::string>& args) {
  const std::string usage = "detkit checkpoint info FILE";
  po::options_description options("detkit checkpoint info");
  add_common_options(options);
  options.add_options()("file", po::value<std::string>()->required(), "the checkpoint (.pth)");
  po::positional_options_description positional;
  positional.add("file", 1);
  po::variables_map vm;
  if (!parse(args, options, positional, vm, usage)) return 0;
  const std::string path = vm["file"].as<std::string>();
  const Checkpoint checkpoint = load_checkpoint(path);

  std::cout << "checkpoint: " << path << "\n";
  if (checkpoint.meta.size() > 0) {
    std::cout << "meta:\n";
    const std::string text = format_config(shorten_texts(checkpoint.meta), false);
    size_t start = 0;
    while (start < text.size()) {  // indent the YAML under "meta:"
      const size_t end = text.find('\n', start);
      std::cout << "  " << text.substr(start, end - start) << "\n";
      if (end == std::string::npos) break;
      start = end + 1;
    }
  }
  for (const auto& key : checkpoint.other_keys) {
    if (key != "meta") std::cout << "also holds: " << key << " (not loaded)\n";
  }
  size_t name_width = 4, shape_width = 5;
  for (const auto& item : checkpoint.state_dict) {
    name_width = std::max(name_width, item.key().size());
    shape_width = std::max(shape_width, shape_text(item.value()).size());
  }
  std::cout << fmt::format("{:<{}}  {:<{}}  {}\n", "name", name_width, "shape", shape_width,
                           "dtype");
  int64_t elements = 0;
  int64_t bytes = 0;
  for (const auto& item : checkpoint.state_dict) {
    std::cout << fmt::format("{:<{}}  {:<{}}  {}\n", item.key(), name_width,
                             shape_text(item.value()), shape_width,
                             python_dtype_name(item.value().scalar_type()));
    elements += item.value().numel();
    bytes += static_cast<int64_t>(item.value().nbytes());
  }
  std::cout << fmt::format("total: {} tensors, {} elements, {} bytes ({:.2f} MiB)\n",
                           checkpoint.state_dict.size(), elements, bytes,
                           static_cast<double>(bytes) / (1024.0 * 1024.0));
  return 0;
}

}  // namespace detkit::cli
