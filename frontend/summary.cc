// Model.summary() in Keras 3's table layout.
#include <cstdio>
#include <iostream>
#include <string>

#include "frontend/model_impl.h"
#include "ir/strings.h"
#include "support/format.h"

namespace kiln {
namespace {

constexpr int kWidths[] = {31, 22, 13};  // text width of each column

std::string Repeat(const char* s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

// A horizontal rule: left, fill, junction, right glyphs.
std::string Rule(const char* l, const char* fill, const char* mid, const char* r) {
  std::string out = l;
  for (int c = 0; c < 3; ++c) out += Repeat(fill, kWidths[c] + 2) + (c < 2 ? mid : r);
  return out + "\n";
}

std::string Pad(const std::string& s, int width, bool right) {
  std::string text = static_cast<int>(s.size()) > width ? s.substr(0, width) : s;
  std::string fill(width - text.size(), ' ');
  return right ? fill + text : text + fill;
}

std::string Row(const char* sep, const std::string& a, const std::string& b, const std::string& c) {
  return str_cat(sep, " ", Pad(a, kWidths[0], false), " ", sep, " ", Pad(b, kWidths[1], false), " ",
                 sep, " ", Pad(c, kWidths[2], true), " ", sep, "\n");
}

std::string ShapeText(const Shape& shape, bool built) {
  if (!built) return "?";
  std::string s = "(None";
  for (int64_t d : shape) str_append(&s, ", ", d);
  return s + ")";
}

}  // namespace

void Sequential::summary(std::ostream& os) const {
  const bool built = impl_->built();
  std::string out = str_cat("Model: \"", impl_->name(), "\"\n");
  out += Rule("\u250f", "\u2501", "\u2533", "\u2513");
  out += Row("\u2503", "Layer (type)", "Output Shape", "Param #");
  out += Rule("\u2521", "\u2501", "\u2547", "\u2529");
  auto rows = impl_->layer_rows();
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    out += Row("\u2502", str_cat(r.name, " (", r.type, ")"), ShapeText(r.output_shape, built),
               built ? with_commas(r.params) : "0 (unbuilt)");
    out += i + 1 < rows.size() ? Rule("\u251c", "\u2500", "\u253c", "\u2524")
                               : Rule("\u2514", "\u2500", "\u2534", "\u2518");
  }
  if (rows.empty()) out += Rule("\u2514", "\u2500", "\u2534", "\u2518");
  int64_t total = count_params();
  out += str_cat(" Total params: ", with_commas(total), " (", keras_bytes(4 * total), ")\n");
  out += str_cat(" Trainable params: ", with_commas(total), " (", keras_bytes(4 * total), ")\n");
  out += str_cat(" Non-trainable params: 0 (", keras_bytes(0), ")\n");
  os << out;
}

void Sequential::summary() const { summary(std::cout); }

}  // namespace kiln
