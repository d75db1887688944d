// `kiln export` (a saved model to a C object and header) and `kiln cache`
// (the persistent compile cache).
#pragma once

#include <string>
#include <vector>

namespace kiln::tools {

/// kiln export MODEL.kiln -o DIR [--name=NAME] [--target=T] [--batch=N];
/// returns the exit code (0, 1 for bad input).
int run_export(const std::vector<std::string>& args, const std::string& dir,
               const std::string& name, const std::string& target, int batch);

/// kiln cache ls|clear; returns the exit code (2 for an unknown subcommand).
int run_cache(const std::vector<std::string>& args);

}  // namespace kiln::tools
