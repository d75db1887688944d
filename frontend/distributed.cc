// The distributed job as fit(), evaluate() and predict() see it, and the
// public kiln::distributed functions (runtime/distributed.h does the MPI).
#include "kiln/distributed.h"

#include <cstring>

#include "frontend/model_impl.h"
#include "ir/strings.h"
#include "support/status.h"

namespace kiln {
namespace distributed {

void initialize() { throw_if_error(join()); }
int rank() { return detail::world().rank; }
int world_size() { return detail::world().size; }

}  // namespace distributed

namespace detail {

distributed::World world() { return value_or_throw(distributed::world()); }

bool is_chief() { return world().rank == 0; }

std::pair<int64_t, int64_t> shard(int64_t n, const distributed::World& w) {
  const int64_t base = n / w.size, extra = n % w.size;
  const int64_t begin = w.rank * base + std::min<int64_t>(w.rank, extra);
  return {begin, begin + base + (w.rank < extra ? 1 : 0)};
}

void check_same_on_all_ranks(const char* method,
                             const std::vector<std::pair<std::string, int64_t>>& fields) {
  const distributed::World w = world();
  if (w.size == 1) return;
  std::vector<int64_t> mine;
  for (const auto& field : fields) mine.push_back(field.second);
  const int64_t bytes = static_cast<int64_t>(mine.size() * sizeof(int64_t));
  std::vector<std::byte> all = distributed::all_gather(mine.data(), bytes);
  auto value = [&](int rank, size_t i) {
    int64_t v;
    std::memcpy(&v, all.data() + rank * bytes + i * sizeof(int64_t), sizeof v);
    return v;
  };
  for (int r = 1; r < w.size; ++r) {
    for (size_t i = 0; i < fields.size(); ++i) {
      if (value(r, i) == value(0, i)) continue;
      throw to_error(absl::FailedPreconditionError(
          str_cat(method, ": the processes of the job disagree: rank ", r, " has ", fields[i].first,
                  " ", value(r, i), " but rank 0 has ", value(0, i),
                  "; every process must run the same program on the same data")));
    }
  }
}

void share_rank0_state(TrainingState& state) {
  if (world().size == 1) return;
  // The store is ordered by name, so every process walks it the same way; a
  // process with other variables was already caught by the graph check.
  for (const auto& [name, tensor] : state.store.all()) {
    distributed::broadcast(tensor->raw(), static_cast<int64_t>(tensor->nbytes()));
  }
  distributed::broadcast(&state.rng, sizeof(state.rng));
}

}  // namespace detail
}  // namespace kiln
