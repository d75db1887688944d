// History::plot(): training curves as SVG or PNG (a figure::Figure).
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "frontend/figure.h"
#include "ir/strings.h"
#include "kiln/model.h"
#include "support/status.h"

namespace kiln {
namespace {

using figure::Anchor;
using figure::Rgb;

constexpr double kPanelW = 420, kPanelH = 300, kMargin = 50;
constexpr Rgb kTrainColor{0x1f, 0x77, 0xb4}, kValColor{0xff, 0x7f, 0x0e};

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4g", v);
  return buf;
}

// One panel: `metric` and "val_<metric>" against the epoch, at x offset `left`.
void Panel(const History& h, const std::string& metric, double left, figure::Figure* f) {
  const std::vector<double>* train = nullptr;
  const std::vector<double>* val = nullptr;
  if (auto it = h.history.find(metric); it != h.history.end()) train = &it->second;
  if (auto it = h.history.find("val_" + metric); it != h.history.end()) val = &it->second;
  double lo = INFINITY, hi = -INFINITY;
  for (const auto* series : {train, val}) {
    if (!series) continue;
    for (double v : *series) {
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    }
  }
  if (!(lo <= hi)) lo = 0, hi = 1;
  if (hi - lo < 1e-12) lo -= 0.5, hi += 0.5;
  size_t epochs = h.epoch.size();
  double x0 = left + kMargin, x1 = left + kPanelW - 10, y0 = kPanelH - kMargin + 20, y1 = 30;
  auto px = [&](size_t i) {
    return epochs > 1 ? x0 + (x1 - x0) * static_cast<double>(i) / (epochs - 1) : (x0 + x1) / 2;
  };
  auto py = [&](double v) { return y0 - (y0 - y1) * (v - lo) / (hi - lo); };
  auto text = [&](double x, double y, std::string s, double size, Anchor anchor,
                  bool bold = false) {
    f->shapes.push_back(figure::Text{x, y, std::move(s), size, figure::kBlack, anchor, bold});
  };
  text((x0 + x1) / 2, 18, metric, 16, Anchor::kMiddle, true);
  f->shapes.push_back(
      figure::Rect{x0, y1, x1 - x0, y0 - y1, false, {}, true, Rgb{0x99, 0x99, 0x99}});
  for (int t = 0; t <= 4; ++t) {
    double v = lo + (hi - lo) * t / 4;
    text(x0 - 5, py(v) + 4, Num(v), 11, Anchor::kEnd);
  }
  for (size_t i = 0; i < epochs; ++i) {
    if (epochs > 10 && i % ((epochs + 9) / 10) != 0) continue;
    text(px(i), y0 + 15, str_cat(h.epoch[i] + 1), 11, Anchor::kMiddle);
  }
  text((x0 + x1) / 2, y0 + 32, "epoch", 12, Anchor::kMiddle);
  auto line = [&](const std::vector<double>* s, Rgb color, bool dashed, const char* label,
                  double legend_y) {
    if (!s) return;
    figure::Polyline curve{{}, color, 2, dashed};
    for (size_t i = 0; i < s->size() && i < epochs; ++i) {
      if (std::isfinite((*s)[i])) curve.points.emplace_back(px(i), py((*s)[i]));
    }
    f->shapes.push_back(std::move(curve));
    f->shapes.push_back(
        figure::Polyline{{{x1 - 110, legend_y}, {x1 - 85, legend_y}}, color, 2, dashed});
    text(x1 - 80, legend_y + 4, label, 11, Anchor::kStart);
  };
  // Rising curves (accuracy) leave the lower right free; falling ones the upper right.
  double legend = metric.find("acc") != std::string::npos ? y0 - 35 : y1 + 15;
  line(train, kTrainColor, false, "training", legend);
  line(val, kValColor, true, "validation", legend + 15);
}

}  // namespace

void History::plot(const std::string& path) const {
  std::vector<std::string> metrics;
  for (const char* m : {"loss", "accuracy"}) {
    if (history.count(m)) metrics.emplace_back(m);
  }
  if (metrics.empty()) {
    throw to_error(absl::FailedPreconditionError("History::plot: no loss or accuracy recorded"));
  }
  figure::Figure f{static_cast<int>(kPanelW * static_cast<double>(metrics.size())),
                   static_cast<int>(kPanelH + 10),
                   {}};
  for (size_t i = 0; i < metrics.size(); ++i) Panel(*this, metrics[i], kPanelW * i, &f);
  throw_if_error(figure::save(f, path, "History::plot: "));
}

}  // namespace kiln
