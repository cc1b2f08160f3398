#pragma once

#include <string_view>

namespace coffeeshop {

/// The OpenAPI 3.1 document of the HTTP API: docs/openapi.json, compiled in at
/// build time (cmake/embed_text.cmake), served at GET /api/v1/openapi.json.
std::string_view openapi_document();

} // namespace coffeeshop
