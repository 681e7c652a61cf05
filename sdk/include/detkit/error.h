// The detkit error type. Every error a user can cause (bad config, bad plugin, bad data, bad
// checkpoint) is thrown as detkit::Error or a subclass, with a message the user can act on; the
// CLI prints the message and exits non-zero.
#pragma once

#include <stdexcept>
#include <string>

#include "detkit/export.h"

namespace detkit {

/// Base class of all detkit errors. Exported (key function in libdetkit) so that an error thrown
/// in a plugin is caught by its type in the host.
class DETKIT_API Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message);
  ~Error() override;
};

/// A configuration error: bad YAML, unknown key or type, wrong parameter type, bad override.
class DETKIT_API ConfigError : public Error {
 public:
  explicit ConfigError(const std::string& message);
  ~ConfigError() override;
};

/// A parameter value a component refuses (a constraint broken, or a value that disagrees with
/// its context); `param()` names the parameter so the host can point at its line in the config.
class DETKIT_API InvalidParameter : public ConfigError {
 public:
  InvalidParameter(std::string param, const std::string& message);
  ~InvalidParameter() override;
  const std::string& param() const { return param_; }

 private:
  std::string param_;
};

/// A plugin that cannot be loaded or registered.
class DETKIT_API PluginError : public Error {
 public:
  explicit PluginError(const std::string& message);
  ~PluginError() override;
};

/// Bad input data: missing or corrupt image, bad annotation file.
class DETKIT_API DataError : public Error {
 public:
  explicit DataError(const std::string& message);
  ~DataError() override;
};

}  // namespace detkit
