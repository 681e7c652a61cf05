// The parameter table `detkit plugins describe` prints, nested schemas included.
#pragma once

#include <string>

#include "detkit/schema.h"

namespace detkit {

/// One row per parameter (name, type, default, description with constraints); a nested map's
/// parameters follow its row, indented under it.
DETKIT_API std::string format_schema_table(const Schema& schema, const std::string& indent = "  ");

}  // namespace detkit
