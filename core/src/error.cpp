// Key functions of the exported error types (their typeinfo lives here, once per process).
#include "detkit/error.h"

namespace detkit {

Error::Error(const std::string& message) : std::runtime_error(message) {}
Error::~Error() = default;
ConfigError::ConfigError(const std::string& message) : Error(message) {}
ConfigError::~ConfigError() = default;
InvalidParameter::InvalidParameter(std::string param, const std::string& message)
    : ConfigError(message), param_(std::move(param)) {}
InvalidParameter::~InvalidParameter() = default;
PluginError::PluginError(const std::string& message) : Error(message) {}
PluginError::~PluginError() = default;
DataError::DataError(const std::string& message) : Error(message) {}
DataError::~DataError() = default;

}  // namespace detkit
