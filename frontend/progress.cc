#include "frontend/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>

namespace kiln::detail {
namespace {

std::string Seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.0fs", std::floor(s));
  return buf;
}

std::string PerStep(double s) {
  char buf[32];
  if (s >= 1) {
    std::snprintf(buf, sizeof(buf), "%.0fs/step", s);
  } else if (s >= 1e-3) {
    std::snprintf(buf, sizeof(buf), "%.0fms/step", s * 1e3);
  } else {
    std::snprintf(buf, sizeof(buf), "%.0fus/step", s * 1e6);
  }
  return buf;
}

}  // namespace

std::string format_logs(const Logs& logs) {
  std::string out;
  for (const auto& [name, value] : logs) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), std::fabs(value) > 1e-3 ? "%.4f" : "%.4e", value);
    out += " - " + name + ": " + buf;
  }
  return out;
}

Progbar::Progbar(int64_t target, int verbose, std::ostream& os)
    : target_(target),
      verbose_(verbose),
      os_(os),
      interactive_(&os == &std::cout && isatty(STDOUT_FILENO)),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

std::string Progbar::line(int64_t current, const Logs& logs, double elapsed) const {
  std::string counter = std::to_string(current) + "/" + std::to_string(target_);
  double per_step = current ? elapsed / static_cast<double>(current) : 0;
  if (verbose_ == 2)
    return counter + " - " + Seconds(elapsed) + " - " + PerStep(per_step) + format_logs(logs);
  constexpr int kWidth = 20;
  int done = target_ ? static_cast<int>(kWidth * current / target_) : kWidth;
  std::string bar;
  for (int i = 0; i < kWidth; ++i) bar += i < done ? "\u2501" : "\u2500";
  bool finished = current >= target_;
  double shown = finished ? elapsed : per_step * static_cast<double>(target_ - current);
  return counter + " " + bar + " " + Seconds(shown) + " " + PerStep(per_step) + format_logs(logs);
}

void Progbar::update(int64_t current, const Logs& logs, bool final) {
  if (verbose_ == 0) return;
  auto now = std::chrono::steady_clock::now();
  double elapsed = std::chrono::duration<double>(now - start_).count();
  bool finished = final || current >= target_;
  if (verbose_ == 1 && interactive_) {
    // Redraw at most every 50 ms: drawing per step would cost more than a step.
    if (!finished && now - last_draw_ < std::chrono::milliseconds(50)) return;
    last_draw_ = now;
    os_ << "\r" << line(current, logs, elapsed) << "\x1b[K" << (finished ? "\n" : "") << std::flush;
    return;
  }
  if (finished) os_ << line(current, logs, elapsed) << "\n" << std::flush;
}

}  // namespace kiln::detail
