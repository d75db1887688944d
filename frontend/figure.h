// A figure as a list of simple shapes (rectangles, grayscale images, text,
// polylines), drawn either as a self-contained SVG or rasterized into RGB
// pixels and written as PNG with libpng. Every picture Kiln draws
// (History::plot, kiln::plot::*) is built as one, so both formats show the same
// layout: one SVG user unit is one PNG pixel.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kiln::figure {

/// A colour, 8 bits per channel.
struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb&) const = default;
};

inline constexpr Rgb kBlack{0, 0, 0}, kWhite{255, 255, 255};

/// An axis-aligned rectangle, filled and/or outlined (1 unit wide, inside its bounds).
struct Rect {
  double x = 0, y = 0, w = 0, h = 0;
  bool filled = true;
  Rgb fill;
  bool outlined = false;
  Rgb stroke;
};

/// A grayscale image of `height` x `width` pixels (`luminance`, row-major,
/// 0 black, 255 white), each drawn as a `scale` x `scale` square at (x, y).
struct Image {
  int x = 0, y = 0, scale = 1, height = 0, width = 0;
  std::vector<uint8_t> luminance;
};

enum class Anchor { kStart, kMiddle, kEnd };

/// One line of text whose baseline starts at, is centred on or ends at (x, y).
/// `size` is the SVG font size; PNGs draw it with a built-in 5x7 bitmap font
/// (printable ASCII, anything else as '?'), doubled from size 16 up.
struct Text {
  double x = 0, y = 0;
  std::string text;
  double size = 11;
  Rgb color;
  Anchor anchor = Anchor::kStart;
  bool bold = false;
};

/// Connected line segments through `points`.
struct Polyline {
  std::vector<std::pair<double, double>> points;
  Rgb color;
  double width = 2;
  bool dashed = false;
};

using Shape = std::variant<Rect, Image, Text, Polyline>;

/// A white canvas of `width` x `height` units and the shapes drawn on it, in order.
struct Figure {
  int width = 0, height = 0;
  std::vector<Shape> shapes;
};

/// The figure as an SVG document; images are embedded as PNG data URIs.
std::string to_svg(const Figure& figure);

/// The figure rasterized and encoded as PNG (8-bit RGB).
absl::StatusOr<std::string> to_png(const Figure& figure);

/// Encodes `pixels` (row-major, `channels` = 1 gray or 3 RGB bytes per pixel) as PNG.
absl::StatusOr<std::string> encode_png(int width, int height, int channels,
                                       const std::vector<uint8_t>& pixels);

/// The file formats a figure can be saved in.
enum class Format { kSvg, kPng };

/// The format named by `path`'s extension (".svg" or ".png", any case), or an
/// InvalidArgument error naming the path.
absl::StatusOr<Format> format_of(const std::string& path);

/// Draws `figure` in the format of `path`'s extension and writes it atomically.
/// Errors are prefixed with `caller` ("plot::images: ").
absl::Status save(const Figure& figure, const std::string& path, std::string_view caller);

/// `text` with XML's special characters escaped and control bytes replaced by '?'.
std::string xml_escape(std::string_view text);

/// "#rrggbb".
std::string hex(Rgb color);

}  // namespace kiln::figure
