// The persistent compile cache: the object code of compiled graphs on disk,
// so a second process (or a second model with the same graph) links it
// without optimising or generating code again, as JAX's persistent
// compilation cache does. Free of LLVM types.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kiln::codegen {

/// One cached graph, as `kiln cache ls` shows it.
struct CacheEntry {
  std::string key;  // hex SHA-256
  int64_t bytes = 0;
  std::string last_used;  // "2026-11-30 03:14:15"
};

/// A directory of entries "<key>.kobj", each holding the object files of one
/// compiled graph with a SHA-256 checksum per object. Writes are atomic
/// (temporary file and rename), so concurrent writers of one entry are safe;
/// a corrupt, truncated or foreign entry is never loaded. The directory is
/// kept under a size bound by evicting the least recently used entries.
class ObjectCache {
 public:
  /// The default bound: 256 MiB.
  static constexpr int64_t kDefaultMaxBytes = int64_t{256} << 20;

  /// The cache of this process: $KILN_CACHE_DIR when set (set and empty: no
  /// cache), else $XDG_CACHE_HOME/kiln, else ~/.cache/kiln; nullopt when off.
  static std::optional<ObjectCache> from_env();

  ObjectCache(std::string dir, int64_t max_bytes = kDefaultMaxBytes)
      : dir_(std::move(dir)), max_bytes_(max_bytes) {}

  const std::string& dir() const { return dir_; }

  /// The hex SHA-256 of `text`: cache keys are hashes of everything that
  /// decides the object code.
  static std::string hash(std::string_view text);

  /// The objects stored under `key`, or nullopt on a miss. An entry that fails
  /// its checks is removed and reported through `rejected` (why), so the caller
  /// recompiles and warns.
  std::optional<std::vector<std::string>> load(const std::string& key,
                                               std::string* rejected = nullptr) const;

  /// Stores `objects` under `key`, then evicts the least recently used entries
  /// beyond the bound. Errors (a read-only or full disk) leave the cache as it was.
  absl::Status store(const std::string& key, const std::vector<std::string>& objects) const;

  /// The entries, most recently used first.
  std::vector<CacheEntry> list() const;

  /// Removes every entry; returns how many.
  absl::StatusOr<int> clear() const;

 private:
  std::string Path(const std::string& key) const;
  void Evict() const;

  std::string dir_;
  int64_t max_bytes_;
};

}  // namespace kiln::codegen
