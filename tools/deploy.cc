#include "tools/deploy.h"

#include <cctype>
#include <filesystem>
#include <iostream>

#include "kiln/advanced.h"

namespace kiln::tools {
namespace {

// The file's stem as a C identifier: "mnist-v2.kiln" -> "mnist_v2".
std::string IdentifierFor(const std::string& path) {
  std::string stem = std::filesystem::path(path).stem().string();
  for (char& c : stem) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  if (stem.empty() || std::isdigit(static_cast<unsigned char>(stem[0]))) stem = "model_" + stem;
  return stem;
}

}  // namespace

int run_export(const std::vector<std::string>& args, const std::string& dir,
               const std::string& name, const std::string& target, int batch) {
  if (args.size() != 1 || dir.empty()) {
    std::cerr << "kiln export: expected one saved model and -o DIR\n";
    return 2;
  }
  try {
    Sequential model = load_model(args[0]);
    std::string stem = name.empty() ? IdentifierFor(args[0]) : name;
    model.export_model(
        stem, dir,
        {.target = target.empty() ? "host" : target, .batch_size = batch > 0 ? batch : 32});
    std::cout << "wrote " << dir << "/" << stem << ".o and " << dir << "/" << stem << ".h\n";
    return 0;
  } catch (const Error& e) {
    std::cerr << "kiln export: " << e.what() << "\n";
    return 1;
  }
}

int run_cache(const std::vector<std::string>& args) {
  if (args.size() != 1 || (args[0] != "ls" && args[0] != "clear")) {
    std::cerr << "kiln cache: expected ls or clear\n";
    return 2;
  }
  std::optional<codegen::ObjectCache> cache = codegen::ObjectCache::from_env();
  if (!cache) {
    std::cout << "the compile cache is off (KILN_CACHE_DIR is set and empty)\n";
    return 0;
  }
  if (args[0] == "clear") {
    absl::StatusOr<int> removed = cache->clear();
    if (!removed.ok()) {
      std::cerr << "kiln cache clear: " << removed.status().message() << "\n";
      return 1;
    }
    std::cout << "removed " << *removed << " entries from " << cache->dir() << "\n";
    return 0;
  }
  std::vector<codegen::CacheEntry> entries = cache->list();
  TextTable table({false, true, false});
  table.add_row({"key", "size", "last used"});
  int64_t total = 0;
  for (const codegen::CacheEntry& e : entries) {
    table.add_row({e.key.substr(0, 16), human_bytes(e.bytes), e.last_used});
    total += e.bytes;
  }
  std::cout << cache->dir() << ": " << entries.size() << " compiled graphs, " << human_bytes(total)
            << " (bound " << human_bytes(codegen::ObjectCache::kDefaultMaxBytes) << ")\n"
            << table.render("  ");
  return 0;
}

}  // namespace kiln::tools
