// The wallboard's files (web/wallboard), its browser libraries (cometd, uPlot from npm) and the
// OpenAPI document of the REST API (docs/openapi.yaml), embedded into the binary at build time
// by cmake/EmbedFiles.cmake.
// Threading: immutable data.
#pragma once

#include <span>
#include <string_view>

namespace tally::server {

struct WebAsset {
  std::string_view path;  // URL path, e.g. "/wallboard/app.js", "/statistics/v3/openapi.yaml"
  std::string_view content_type;
  std::string_view data;
};

[[nodiscard]] std::span<const WebAsset> WebAssets();

}  // namespace tally::server
