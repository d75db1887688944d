#include "frontend/figure.h"

#include <png.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>

#include "frontend/model_impl.h"
#include "ir/strings.h"
#include "support/files.h"

namespace kiln::figure {
namespace {

// Printable ASCII (0x20-0x7E), five columns per glyph, bit 0 the top row;
// rows 0-6 stand on the baseline, row 7 is the descender of g, j, p, q, y.
constexpr uint8_t kFont[95][5] = {
    {0x00, 0x00, 0x00, 0x00, 0x00}, {0x00, 0x00, 0x5F, 0x00, 0x00}, {0x00, 0x07, 0x00, 0x07, 0x00},
    {0x14, 0x7F, 0x14, 0x7F, 0x14}, {0x24, 0x2A, 0x7F, 0x2A, 0x12}, {0x23, 0x13, 0x08, 0x64, 0x62},
    {0x36, 0x49, 0x56, 0x20, 0x50}, {0x00, 0x00, 0x07, 0x00, 0x00}, {0x00, 0x1C, 0x22, 0x41, 0x00},
    {0x00, 0x41, 0x22, 0x1C, 0x00}, {0x2A, 0x1C, 0x7F, 0x1C, 0x2A}, {0x08, 0x08, 0x3E, 0x08, 0x08},
    {0x00, 0x80, 0x70, 0x30, 0x00}, {0x08, 0x08, 0x08, 0x08, 0x08}, {0x00, 0x00, 0x60, 0x60, 0x00},
    {0x20, 0x10, 0x08, 0x04, 0x02}, {0x3E, 0x51, 0x49, 0x45, 0x3E}, {0x00, 0x42, 0x7F, 0x40, 0x00},
    {0x72, 0x49, 0x49, 0x49, 0x46}, {0x21, 0x41, 0x49, 0x4D, 0x33}, {0x18, 0x14, 0x12, 0x7F, 0x10},
    {0x27, 0x45, 0x45, 0x45, 0x39}, {0x3C, 0x4A, 0x49, 0x49, 0x31}, {0x41, 0x21, 0x11, 0x09, 0x07},
    {0x36, 0x49, 0x49, 0x49, 0x36}, {0x46, 0x49, 0x49, 0x29, 0x1E}, {0x00, 0x00, 0x14, 0x00, 0x00},
    {0x00, 0x40, 0x34, 0x00, 0x00}, {0x00, 0x08, 0x14, 0x22, 0x41}, {0x14, 0x14, 0x14, 0x14, 0x14},
    {0x00, 0x41, 0x22, 0x14, 0x08}, {0x02, 0x01, 0x59, 0x09, 0x06}, {0x3E, 0x41, 0x5D, 0x59, 0x4E},
    {0x7C, 0x12, 0x11, 0x12, 0x7C}, {0x7F, 0x49, 0x49, 0x49, 0x36}, {0x3E, 0x41, 0x41, 0x41, 0x22},
    {0x7F, 0x41, 0x41, 0x41, 0x3E}, {0x7F, 0x49, 0x49, 0x49, 0x41}, {0x7F, 0x09, 0x09, 0x09, 0x01},
    {0x3E, 0x41, 0x41, 0x51, 0x73}, {0x7F, 0x08, 0x08, 0x08, 0x7F}, {0x00, 0x41, 0x7F, 0x41, 0x00},
    {0x20, 0x40, 0x41, 0x3F, 0x01}, {0x7F, 0x08, 0x14, 0x22, 0x41}, {0x7F, 0x40, 0x40, 0x40, 0x40},
    {0x7F, 0x02, 0x1C, 0x02, 0x7F}, {0x7F, 0x04, 0x08, 0x10, 0x7F}, {0x3E, 0x41, 0x41, 0x41, 0x3E},
    {0x7F, 0x09, 0x09, 0x09, 0x06}, {0x3E, 0x41, 0x51, 0x21, 0x5E}, {0x7F, 0x09, 0x19, 0x29, 0x46},
    {0x26, 0x49, 0x49, 0x49, 0x32}, {0x03, 0x01, 0x7F, 0x01, 0x03}, {0x3F, 0x40, 0x40, 0x40, 0x3F},
    {0x1F, 0x20, 0x40, 0x20, 0x1F}, {0x3F, 0x40, 0x38, 0x40, 0x3F}, {0x63, 0x14, 0x08, 0x14, 0x63},
    {0x03, 0x04, 0x78, 0x04, 0x03}, {0x61, 0x59, 0x49, 0x4D, 0x43}, {0x00, 0x7F, 0x41, 0x41, 0x41},
    {0x02, 0x04, 0x08, 0x10, 0x20}, {0x00, 0x41, 0x41, 0x41, 0x7F}, {0x04, 0x02, 0x01, 0x02, 0x04},
    {0x40, 0x40, 0x40, 0x40, 0x40}, {0x00, 0x03, 0x07, 0x08, 0x00}, {0x20, 0x54, 0x54, 0x78, 0x40},
    {0x7F, 0x28, 0x44, 0x44, 0x38}, {0x38, 0x44, 0x44, 0x44, 0x28}, {0x38, 0x44, 0x44, 0x28, 0x7F},
    {0x38, 0x54, 0x54, 0x54, 0x18}, {0x00, 0x08, 0x7E, 0x09, 0x02}, {0x18, 0xA4, 0xA4, 0x9C, 0x78},
    {0x7F, 0x08, 0x04, 0x04, 0x78}, {0x00, 0x44, 0x7D, 0x40, 0x00}, {0x20, 0x40, 0x40, 0x3D, 0x00},
    {0x7F, 0x10, 0x28, 0x44, 0x00}, {0x00, 0x41, 0x7F, 0x40, 0x00}, {0x7C, 0x04, 0x78, 0x04, 0x78},
    {0x7C, 0x08, 0x04, 0x04, 0x78}, {0x38, 0x44, 0x44, 0x44, 0x38}, {0xFC, 0x18, 0x24, 0x24, 0x18},
    {0x18, 0x24, 0x24, 0x18, 0xFC}, {0x7C, 0x08, 0x04, 0x04, 0x08}, {0x48, 0x54, 0x54, 0x54, 0x24},
    {0x04, 0x04, 0x3F, 0x44, 0x24}, {0x3C, 0x40, 0x40, 0x20, 0x7C}, {0x1C, 0x20, 0x40, 0x20, 0x1C},
    {0x3C, 0x40, 0x30, 0x40, 0x3C}, {0x44, 0x28, 0x10, 0x28, 0x44}, {0x4C, 0x90, 0x90, 0x90, 0x7C},
    {0x44, 0x64, 0x54, 0x4C, 0x44}, {0x00, 0x08, 0x36, 0x41, 0x00}, {0x00, 0x00, 0x77, 0x00, 0x00},
    {0x00, 0x41, 0x36, 0x08, 0x00}, {0x02, 0x01, 0x02, 0x04, 0x02},
};

constexpr int kGlyphAdvance = 6;  // five columns and a blank one

std::string Base64(std::string_view bytes) {
  static constexpr char kDigits[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) v |= static_cast<uint8_t>(bytes[i + 2]);
    out.push_back(kDigits[(v >> 18) & 63]);
    out.push_back(kDigits[(v >> 12) & 63]);
    out.push_back(i + 1 < bytes.size() ? kDigits[(v >> 6) & 63] : '=');
    out.push_back(i + 2 < bytes.size() ? kDigits[v & 63] : '=');
  }
  return out;
}

// ---- SVG ----------------------------------------------------------------

void Svg(std::string* out, const Rect& r) {
  if (r.filled) {
    str_append(out, "<rect x=\"", r.x, "\" y=\"", r.y, "\" width=\"", r.w, "\" height=\"", r.h,
               "\" fill=\"", hex(r.fill), "\"/>\n");
  }
  // The outline sits inside the bounds, as the PNG draws it.
  if (r.outlined) {
    str_append(out, "<rect x=\"", r.x + 0.5, "\" y=\"", r.y + 0.5, "\" width=\"",
               std::max(0.0, r.w - 1), "\" height=\"", std::max(0.0, r.h - 1),
               "\" fill=\"none\" stroke=\"", hex(r.stroke), "\" stroke-width=\"1\"/>\n");
  }
}

void Svg(std::string* out, const Image& im) {
  absl::StatusOr<std::string> png = encode_png(im.width, im.height, 1, im.luminance);
  if (!png.ok()) return;  // sizes were checked when the figure was built
  str_append(out, "<image x=\"", im.x, "\" y=\"", im.y, "\" width=\"", im.width * im.scale,
             "\" height=\"", im.height * im.scale,
             "\" preserveAspectRatio=\"none\" image-rendering=\"pixelated\" "
             "style=\"image-rendering:pixelated;image-rendering:crisp-edges\" "
             "xlink:href=\"data:image/png;base64,",
             Base64(*png), "\"/>\n");
}

void Svg(std::string* out, const Text& t) {
  const char* anchor = t.anchor == Anchor::kStart    ? "start"
                       : t.anchor == Anchor::kMiddle ? "middle"
                                                     : "end";
  str_append(out, "<text x=\"", t.x, "\" y=\"", t.y, "\" font-size=\"", t.size, "\" fill=\"",
             hex(t.color), "\" text-anchor=\"", anchor, "\"", t.bold ? " font-weight=\"bold\"" : "",
             ">", xml_escape(t.text), "</text>\n");
}

void Svg(std::string* out, const Polyline& p) {
  std::string points;
  for (auto [x, y] : p.points) str_append(&points, x, ",", y, " ");
  str_append(out, "<polyline fill=\"none\" stroke=\"", hex(p.color), "\" stroke-width=\"", p.width,
             "\"", p.dashed ? " stroke-dasharray=\"6,4\"" : "", " points=\"", points, "\"/>\n");
}

// ---- raster -------------------------------------------------------------

class Canvas {
 public:
  Canvas(int width, int height)
      : width_(width), height_(height), rgb_(static_cast<size_t>(width) * height * 3, 255) {}

  void Set(int x, int y, Rgb c) {
    if (x < 0 || y < 0 || x >= width_ || y >= height_) return;
    uint8_t* p = &rgb_[(static_cast<size_t>(y) * width_ + x) * 3];
    p[0] = c.r, p[1] = c.g, p[2] = c.b;
  }
  void Fill(int x0, int y0, int x1, int y1, Rgb c) {
    x0 = std::max(x0, 0), y0 = std::max(y0, 0);
    x1 = std::min(x1, width_), y1 = std::min(y1, height_);
    for (int y = y0; y < y1; ++y) {
      for (int x = x0; x < x1; ++x) Set(x, y, c);
    }
  }

  void Draw(const Rect& r) {
    int x0 = static_cast<int>(std::lround(r.x)), y0 = static_cast<int>(std::lround(r.y));
    int x1 = static_cast<int>(std::lround(r.x + r.w)),
        y1 = static_cast<int>(std::lround(r.y + r.h));
    if (r.filled) Fill(x0, y0, x1, y1, r.fill);
    if (r.outlined) {
      Fill(x0, y0, x1, y0 + 1, r.stroke);
      Fill(x0, y1 - 1, x1, y1, r.stroke);
      Fill(x0, y0, x0 + 1, y1, r.stroke);
      Fill(x1 - 1, y0, x1, y1, r.stroke);
    }
  }

  void Draw(const Image& im) {
    for (int i = 0; i < im.height; ++i) {
      for (int j = 0; j < im.width; ++j) {
        uint8_t v = im.luminance[static_cast<size_t>(i) * im.width + j];
        int x = im.x + j * im.scale, y = im.y + i * im.scale;
        Fill(x, y, x + im.scale, y + im.scale, Rgb{v, v, v});
      }
    }
  }

  void Draw(const Text& t) {
    const int k = t.size >= 16 ? 2 : 1;
    const int n = static_cast<int>(t.text.size());
    const int w = n > 0 ? (n * kGlyphAdvance - 1) * k : 0;
    int x = static_cast<int>(std::lround(t.x));
    if (t.anchor == Anchor::kMiddle) x -= w / 2;
    if (t.anchor == Anchor::kEnd) x -= w;
    const int top = static_cast<int>(std::lround(t.y)) - 7 * k;
    for (unsigned char ch : t.text) {
      const uint8_t* glyph = kFont[(ch >= 0x20 && ch < 0x7F ? ch : '?') - 0x20];
      for (int col = 0; col < 5; ++col) {
        for (int row = 0; row < 8; ++row) {
          if (!(glyph[col] >> row & 1)) continue;
          // Bold text is drawn twice, one pixel apart.
          for (int b = 0; b <= (t.bold ? 1 : 0); ++b) {
            Fill(x + (col + b) * k, top + row * k, x + (col + b + 1) * k, top + (row + 1) * k,
                 t.color);
          }
        }
      }
      x += kGlyphAdvance * k;
    }
  }

  void Draw(const Polyline& p) {
    // A square pen stamped every half pixel; dashes follow the SVG's 6-on, 4-off pattern.
    const double half = p.width / 2;
    double travelled = 0;
    for (size_t i = 1; i < p.points.size(); ++i) {
      auto [xa, ya] = p.points[i - 1];
      auto [xb, yb] = p.points[i];
      const double length = std::hypot(xb - xa, yb - ya);
      const int steps = std::max(1, static_cast<int>(std::ceil(length * 2)));
      for (int s = 0; s <= steps; ++s) {
        const double f = static_cast<double>(s) / steps;
        if (p.dashed && std::fmod(travelled + f * length, 10.0) >= 6.0) continue;
        const double x = xa + (xb - xa) * f, y = ya + (yb - ya) * f;
        Fill(static_cast<int>(std::lround(x - half)), static_cast<int>(std::lround(y - half)),
             static_cast<int>(std::lround(x + half)), static_cast<int>(std::lround(y + half)),
             p.color);
      }
      travelled += length;
    }
  }

  const std::vector<uint8_t>& rgb() const { return rgb_; }

 private:
  int width_, height_;
  std::vector<uint8_t> rgb_;
};

}  // namespace

std::string hex(Rgb c) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "#%02x%02x%02x", c.r, c.g, c.b);
  return buf;
}

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char ch : text) {
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      // XML 1.0 forbids most control characters even as references.
      default:
        out.push_back(ch < 0x20 || ch == 0x7F ? '?' : static_cast<char>(ch));
    }
  }
  return out;
}

std::string to_svg(const Figure& figure) {
  std::string svg = str_cat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" "
      "width=\"",
      figure.width, "\" height=\"", figure.height, "\" viewBox=\"0 0 ", figure.width, " ",
      figure.height, "\" font-family=\"sans-serif\">\n",
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
  for (const Shape& shape : figure.shapes) {
    std::visit([&](const auto& s) { Svg(&svg, s); }, shape);
  }
  svg += "</svg>\n";
  return svg;
}

absl::StatusOr<std::string> encode_png(int width, int height, int channels,
                                       const std::vector<uint8_t>& pixels) {
  if (width <= 0 || height <= 0 || (channels != 1 && channels != 3) ||
      pixels.size() != static_cast<size_t>(width) * height * channels) {
    return absl::InternalError(str_cat("encode_png: bad image ", width, "x", height, "x", channels,
                                       " with ", pixels.size(), " bytes"));
  }
  // libpng's simplified API reports errors through the image struct instead of
  // longjmp, which would skip C++ destructors.
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(width);
  image.height = static_cast<png_uint_32>(height);
  image.format = channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&image, nullptr, &size, 0, pixels.data(), 0, nullptr)) {
    std::string message = image.message;
    png_image_free(&image);
    return absl::InternalError(str_cat("libpng: ", message));
  }
  std::string out(size, '\0');
  if (!png_image_write_to_memory(&image, out.data(), &size, 0, pixels.data(), 0, nullptr)) {
    std::string message = image.message;
    png_image_free(&image);
    return absl::InternalError(str_cat("libpng: ", message));
  }
  out.resize(size);
  return out;
}

absl::StatusOr<std::string> to_png(const Figure& figure) {
  Canvas canvas(figure.width, figure.height);
  for (const Shape& shape : figure.shapes) {
    std::visit([&](const auto& s) { canvas.Draw(s); }, shape);
  }
  return encode_png(figure.width, figure.height, 3, canvas.rgb());
}

absl::StatusOr<Format> format_of(const std::string& path) {
  size_t dot = path.find_last_of('.');
  size_t slash = path.find_last_of('/');
  std::string ext;
  if (dot != std::string::npos && (slash == std::string::npos || dot > slash)) {
    ext = path.substr(dot);
    for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (ext == ".svg") return Format::kSvg;
  if (ext == ".png") return Format::kPng;
  return absl::InvalidArgumentError(str_cat("path \"", path, "\": ",
                                            ext.empty()
                                                ? std::string("no file extension")
                                                : str_cat("unknown file extension \"", ext, "\""),
                                            " (use .svg or .png)"));
}

absl::Status save(const Figure& figure, const std::string& path, std::string_view caller) {
  auto prefixed = [&](const absl::Status& s) {
    return absl::Status(s.code(), str_cat(caller, s.message()));
  };
  absl::StatusOr<Format> format = format_of(path);
  if (!format.ok()) return prefixed(format.status());
  // Every process of a distributed job draws the same figure; one writes it.
  if (!detail::is_chief()) return absl::OkStatus();
  std::string bytes;
  if (*format == Format::kSvg) {
    bytes = to_svg(figure);
  } else {
    absl::StatusOr<std::string> png = to_png(figure);
    if (!png.ok()) return prefixed(png.status());
    bytes = *std::move(png);
  }
  absl::Status written = write_file_atomically(path, bytes);
  if (!written.ok())
    return prefixed(absl::Status(written.code(), str_cat("path: ", written.message())));
  return absl::OkStatus();
}

}  // namespace kiln::figure
