#include "codegen/object_cache.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "ir/strings.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/SHA256.h"
#include "support/env.h"
#include "support/files.h"

namespace kiln::codegen {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kMagic = "KILNOBJ1\n";
constexpr std::string_view kSuffix = ".kobj";

// Reads "<decimal><end>" at `*at`, advancing past `end`.
bool ReadNumber(std::string_view text, size_t* at, char end, int64_t* out) {
  size_t stop = text.find(end, *at);
  if (stop == std::string_view::npos) return false;
  auto [ptr, err] = std::from_chars(text.data() + *at, text.data() + stop, *out);
  if (err != std::errc() || ptr != text.data() + stop || *out < 0) return false;
  *at = stop + 1;
  return true;
}

std::string FormatTime(fs::file_time_type t) {
  auto system = std::chrono::file_clock::to_sys(t);
  std::time_t c = std::chrono::system_clock::to_time_t(system);
  std::tm tm{};
  localtime_r(&c, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

// Parses an entry; the reason it is unusable otherwise.
std::optional<std::vector<std::string>> Parse(std::string_view bytes, const std::string& key,
                                              std::string* why) {
  auto fail = [&](std::string reason) {
    *why = std::move(reason);
    return std::nullopt;
  };
  if (bytes.substr(0, kMagic.size()) != kMagic) return fail("not a Kiln cache entry");
  size_t at = kMagic.size();
  if (bytes.substr(at, key.size() + 1) != key + "\n") {
    return fail("it was stored for another key (a foreign or renamed entry)");
  }
  at += key.size() + 1;
  int64_t count = 0;
  if (!ReadNumber(bytes, &at, '\n', &count) || count > 1024) return fail("bad object count");
  std::vector<std::pair<int64_t, std::string>> index;
  for (int64_t i = 0; i < count; ++i) {
    int64_t size = 0;
    if (!ReadNumber(bytes, &at, ' ', &size)) return fail("bad object size");
    if (at + 65 > bytes.size() || bytes[at + 64] != '\n') return fail("bad checksum line");
    index.emplace_back(size, std::string(bytes.substr(at, 64)));
    at += 65;
  }
  std::vector<std::string> objects;
  for (const auto& [size, sum] : index) {
    if (static_cast<uint64_t>(size) > bytes.size() - at) return fail("truncated");
    std::string object(bytes.substr(at, static_cast<size_t>(size)));
    if (ObjectCache::hash(object) != sum) return fail("checksum mismatch (corrupt)");
    objects.push_back(std::move(object));
    at += static_cast<size_t>(size);
  }
  if (at != bytes.size()) return fail("trailing bytes");
  return objects;
}

}  // namespace

std::optional<ObjectCache> ObjectCache::from_env() {
  std::optional<std::string> dir = env_value("KILN_CACHE_DIR");
  if (dir) {
    if (dir->empty()) return std::nullopt;
    return ObjectCache(*dir);
  }
  if (std::optional<std::string> xdg = env_string("XDG_CACHE_HOME")) {
    return ObjectCache(*xdg + "/kiln");
  }
  std::optional<std::string> home = env_string("HOME");
  if (!home) return std::nullopt;
  return ObjectCache(*home + "/.cache/kiln");
}

std::string ObjectCache::hash(std::string_view text) {
  llvm::SHA256 sha;
  sha.update(llvm::StringRef(text.data(), text.size()));
  std::array<uint8_t, 32> digest = sha.final();
  std::string hex;
  for (uint8_t b : digest) {
    hex += "0123456789abcdef"[b >> 4];
    hex += "0123456789abcdef"[b & 15];
  }
  return hex;
}

std::string ObjectCache::Path(const std::string& key) const {
  return str_cat(dir_, "/", key, kSuffix);
}

std::optional<std::vector<std::string>> ObjectCache::load(const std::string& key,
                                                          std::string* rejected) const {
  const std::string path = Path(key);
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  std::string why;
  std::optional<std::vector<std::string>> objects = Parse(ss.str(), key, &why);
  std::error_code ec;
  if (!objects) {
    fs::remove(path, ec);
    if (rejected) *rejected = str_cat("cache entry ", path, " rejected: ", why);
    return std::nullopt;
  }
  // Recently used entries survive eviction.
  fs::last_write_time(path, fs::file_time_type::clock::now(), ec);
  return objects;
}

absl::Status ObjectCache::store(const std::string& key,
                                const std::vector<std::string>& objects) const {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return absl::UnavailableError(str_cat("cannot create ", dir_, ": ", ec.message()));
  std::string bytes(kMagic);
  str_append(&bytes, key, "\n", static_cast<int64_t>(objects.size()), "\n");
  for (const std::string& o : objects) {
    str_append(&bytes, static_cast<int64_t>(o.size()), " ", hash(o), "\n");
  }
  for (const std::string& o : objects) bytes += o;
  if (auto s = write_file_atomically(Path(key), bytes); !s.ok()) return s;
  Evict();
  return absl::OkStatus();
}

std::vector<CacheEntry> ObjectCache::list() const {
  std::vector<std::pair<fs::file_time_type, CacheEntry>> found;
  std::error_code ec;
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.size() <= kSuffix.size() || !name.ends_with(kSuffix)) continue;
    std::error_code e;
    fs::file_time_type t = it->last_write_time(e);
    auto size = static_cast<int64_t>(it->file_size(e));
    if (e) continue;
    found.push_back({t, {name.substr(0, name.size() - kSuffix.size()), size, FormatTime(t)}});
  }
  std::sort(found.begin(), found.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<CacheEntry> out;
  for (auto& [t, e] : found) out.push_back(std::move(e));
  return out;
}

void ObjectCache::Evict() const {
  std::vector<CacheEntry> entries = list();
  int64_t total = 0;
  for (const CacheEntry& e : entries) total += e.bytes;
  // Oldest first, never the newest (just stored) entry.
  for (size_t i = entries.size(); i-- > 1 && total > max_bytes_;) {
    std::error_code ec;
    if (fs::remove(Path(entries[i].key), ec)) total -= entries[i].bytes;
  }
}

absl::StatusOr<int> ObjectCache::clear() const {
  int n = 0;
  for (const CacheEntry& e : list()) {
    std::error_code ec;
    if (fs::remove(Path(e.key), ec)) ++n;
    if (ec)
      return absl::UnavailableError(str_cat("cannot remove ", Path(e.key), ": ", ec.message()));
  }
  return n;
}

}  // namespace kiln::codegen
