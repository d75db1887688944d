// History::plot(): training curves as a self-contained SVG.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "ir/strings.h"
#include "kiln/model.h"
#include "support/files.h"
#include "support/status.h"

namespace kiln {
namespace {

constexpr double kPanelW = 420, kPanelH = 300, kMargin = 50;

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4g", v);
  return buf;
}

// One panel: `metric` and "val_<metric>" against the epoch, at x offset `left`.
std::string Panel(const History& h, const std::string& metric, double left) {
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
  std::string svg = str_cat("<text x=\"", (x0 + x1) / 2,
                            "\" y=\"18\" text-anchor=\"middle\" "
                            "font-weight=\"bold\">",
                            metric, "</text>\n");
  str_append(&svg, "<rect x=\"", x0, "\" y=\"", y1, "\" width=\"", x1 - x0, "\" height=\"", y0 - y1,
             "\" fill=\"none\" stroke=\"#999\"/>\n");
  for (int t = 0; t <= 4; ++t) {
    double v = lo + (hi - lo) * t / 4;
    str_append(&svg, "<text x=\"", x0 - 5, "\" y=\"", py(v) + 4,
               "\" text-anchor=\"end\" font-size=\"11\">", Num(v), "</text>\n");
  }
  for (size_t i = 0; i < epochs; ++i) {
    if (epochs > 10 && i % ((epochs + 9) / 10) != 0) continue;
    str_append(&svg, "<text x=\"", px(i), "\" y=\"", y0 + 15,
               "\" text-anchor=\"middle\" font-size=\"11\">", h.epoch[i] + 1, "</text>\n");
  }
  str_append(&svg, "<text x=\"", (x0 + x1) / 2, "\" y=\"", y0 + 32,
             "\" text-anchor=\"middle\" font-size=\"12\">epoch</text>\n");
  auto line = [&](const std::vector<double>* s, const char* color, const char* dash,
                  const char* label, double legend_y) {
    if (!s) return;
    std::string pts;
    for (size_t i = 0; i < s->size() && i < epochs; ++i) {
      if (std::isfinite((*s)[i])) str_append(&pts, px(i), ",", py((*s)[i]), " ");
    }
    str_append(&svg, "<polyline fill=\"none\" stroke=\"", color, "\" stroke-width=\"2\"", dash,
               " points=\"", pts, "\"/>\n");
    str_append(&svg, "<line x1=\"", x1 - 110, "\" y1=\"", legend_y, "\" x2=\"", x1 - 85, "\" y2=\"",
               legend_y, "\" stroke=\"", color, "\" stroke-width=\"2\"", dash, "/>\n<text x=\"",
               x1 - 80, "\" y=\"", legend_y + 4, "\" font-size=\"11\">", label, "</text>\n");
  };
  // Rising curves (accuracy) leave the lower right free; falling ones the upper right.
  double legend = metric.find("acc") != std::string::npos ? y0 - 35 : y1 + 15;
  line(train, "#1f77b4", "", "training", legend);
  line(val, "#ff7f0e", " stroke-dasharray=\"6,4\"", "validation", legend + 15);
  return svg;
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
  double width = kPanelW * static_cast<double>(metrics.size());
  std::string svg = str_cat("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"", width,
                            "\" height=\"", kPanelH + 10, "\" font-family=\"sans-serif\">\n",
                            "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
  for (size_t i = 0; i < metrics.size(); ++i) svg += Panel(*this, metrics[i], kPanelW * i);
  svg += "</svg>\n";
  throw_if_error(write_file_atomically(path, svg));
}

}  // namespace kiln
