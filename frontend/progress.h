// Keras 3 style progress display (internal).
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>

#include "kiln/callbacks.h"

namespace kiln::detail {

/// verbose 1 on a terminal redraws one line in place; verbose 1 elsewhere
/// prints that line once, when the target is reached, so logs are not flooded;
/// verbose 2 prints one "N/N - 3s - 1ms/step - loss: ..." line; 0 is silent.
class Progbar {
 public:
  Progbar(int64_t target, int verbose, std::ostream& os);
  /// Reports `current` steps done with the running `logs`; `final` prints the
  /// closing line even when training stopped before the target.
  void update(int64_t current, const Logs& logs, bool final = false);

 private:
  std::string line(int64_t current, const Logs& logs, double elapsed) const;

  int64_t target_;
  int verbose_;
  std::ostream& os_;
  bool interactive_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

/// " - accuracy: 0.9140 - loss: 0.2950" (Keras's number format).
std::string format_logs(const Logs& logs);

}  // namespace kiln::detail
