// kiln::plot, kiln::metrics::confusion_matrix and kiln::show: the PNGs are
// decoded with libpng and checked pixel by pixel where the figure placed each
// image and bar; the SVGs must render with rsvg-convert (librsvg2-bin).
#include <png.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "frontend/figure.h"
#include "frontend/plots.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kiln/kiln.h"
#include "test_util.h"

namespace kiln {
namespace {

using figure::Rgb;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Png {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;
  Rgb at(int x, int y) const {
    const uint8_t* p = &rgb[(static_cast<size_t>(y) * width + x) * 3];
    return {p[0], p[1], p[2]};
  }
};

// Decodes `path` with libpng into 8-bit RGB.
Png ReadPng(const std::string& path) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  Png out;
  if (!png_image_begin_read_from_file(&image, path.c_str())) {
    ADD_FAILURE() << "libpng cannot read " << path << ": " << image.message;
    return out;
  }
  image.format = PNG_FORMAT_RGB;
  out.width = static_cast<int>(image.width);
  out.height = static_cast<int>(image.height);
  out.rgb.resize(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, out.rgb.data(), 0, nullptr)) {
    ADD_FAILURE() << "libpng cannot decode " << path << ": " << image.message;
  }
  return out;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

template <typename T>
std::vector<const T*> ShapesOf(const figure::Figure& f) {
  std::vector<const T*> out;
  for (const auto& s : f.shapes) {
    if (const T* t = std::get_if<T>(&s)) out.push_back(t);
  }
  return out;
}

// The centre of pixel (row, col) of `im` in the figure.
std::pair<int, int> Centre(const figure::Image& im, int row, int col) {
  return {im.x + col * im.scale + im.scale / 2, im.y + row * im.scale + im.scale / 2};
}

// Two 2x3 images: the first 255, 0, 128 / 0, 255, 0, the second all 255.
Tensor TwoImages() {
  return Tensor::from<uint8_t>({2, 2, 3}, {255, 0, 128, 0, 255, 0, 255, 255, 255, 255, 255, 255});
}

TEST(PlotImages, PngFollowsTheBinaryColourMap) {
  testing::TempDir temp;
  Tensor x = TwoImages(), y = Tensor::from<uint8_t>({2}, {1, 0});
  const std::vector<std::string> names = {"Shirt", "Boot"};
  // The same figure drawn from uint8 pixels and from x / 255.
  for (const Tensor& pixels : {x, x / 255.0f}) {
    const std::string path = temp.path("grid.png");
    plot::images(pixels, y, names, path, {.scale = 4});
    Png png = ReadPng(path);
    auto f = plot::images_figure(pixels, y, names, {.scale = 4});
    ASSERT_TRUE(f.ok()) << f.status();
    EXPECT_EQ(png.width, f->width);
    EXPECT_EQ(png.height, f->height);
    auto images = ShapesOf<figure::Image>(*f);
    ASSERT_EQ(images.size(), 2u);
    auto pixel = [&](int image, int row, int col) {
      auto [px, py] = Centre(*images[image], row, col);
      return png.at(px, py);
    };
    EXPECT_EQ(pixel(0, 0, 0), (Rgb{0, 0, 0}));        // 255 is black
    EXPECT_EQ(pixel(0, 0, 1), (Rgb{255, 255, 255}));  // 0 is white
    EXPECT_EQ(pixel(0, 0, 2), (Rgb{127, 127, 127}));
    EXPECT_EQ(pixel(0, 1, 1), (Rgb{0, 0, 0}));
    EXPECT_EQ(pixel(1, 1, 2), (Rgb{0, 0, 0}));
    auto texts = ShapesOf<figure::Text>(*f);
    ASSERT_EQ(texts.size(), 2u);
    EXPECT_EQ(texts[0]->text, "Boot");
    EXPECT_EQ(texts[1]->text, "Shirt");
  }
}

TEST(PlotImages, GridIsFiveByFiveByDefault) {
  Tensor x(DType::kU8, {30, 4, 4}), y(DType::kU8, {30});
  auto f = plot::images_figure(x, y, {}, {});
  ASSERT_TRUE(f.ok()) << f.status();
  auto images = ShapesOf<figure::Image>(*f);
  ASSERT_EQ(images.size(), 25u);
  EXPECT_EQ(images[4]->y, images[0]->y);  // one row of five
  EXPECT_GT(images[5]->y, images[0]->y);  // then the next
  EXPECT_EQ(images[5]->x, images[0]->x);
  EXPECT_EQ(ShapesOf<figure::Text>(*f)[0]->text, "0");  // no class names: the label
}

TEST(PlotPredictions, BarsAndCaptionsAreColouredAsInTheTutorial) {
  testing::TempDir temp;
  Tensor x = TwoImages();
  Tensor p = Tensor::from<float>({2, 3}, {0.1f, 0.7f, 0.2f, 0.6f, 0.3f, 0.1f});
  Tensor y = Tensor::from<uint8_t>({2}, {1, 2});  // the first right, the second wrong
  const std::vector<std::string> names = {"a", "b", "c"};
  const std::string path = temp.path("predictions.png");
  plot::predictions(x, p, y, names, path, {.scale = 10});
  auto f = plot::predictions_figure(x, p, y, names, {.scale = 10});
  ASSERT_TRUE(f.ok()) << f.status();
  Png png = ReadPng(path);
  ASSERT_EQ(png.width, f->width);

  std::vector<Rgb> bar_colours;
  for (const figure::Rect* r : ShapesOf<figure::Rect>(*f)) {
    if (!r->filled) continue;
    bar_colours.push_back(r->fill);
    const int cx = static_cast<int>(r->x + r->w / 2), cy = static_cast<int>(r->y + r->h / 2);
    EXPECT_EQ(png.at(cx, cy), r->fill) << "bar at " << r->x << "," << r->y;
  }
  // Example 0: a, b (predicted and true: blue), c. Example 1: a (predicted: red), b, c (true:
  // blue).
  EXPECT_THAT(bar_colours, ElementsAre(plot::kBar, plot::kRight, plot::kBar, plot::kWrong,
                                       plot::kBar, plot::kRight));
  EXPECT_EQ(plot::kWrong, (Rgb{255, 0, 0}));
  EXPECT_EQ(plot::kRight, (Rgb{0, 0, 255}));

  std::vector<std::pair<std::string, Rgb>> captions;
  for (const figure::Text* t : ShapesOf<figure::Text>(*f)) {
    if (t->text.find('%') != std::string::npos) captions.emplace_back(t->text, t->color);
  }
  EXPECT_THAT(captions, ElementsAre(std::pair<std::string, Rgb>{"b 70% (b)", plot::kRight},
                                    std::pair<std::string, Rgb>{"a 60% (c)", plot::kWrong}));
  // The caption is drawn in its colour: some pixel of the second one is red.
  const figure::Image& second = *ShapesOf<figure::Image>(*f)[1];
  bool red = false;
  for (int yy = second.y + second.height * second.scale; yy < png.height && !red; ++yy) {
    for (int xx = 0; xx < png.width && !red; ++xx) red = png.at(xx, yy) == plot::kWrong;
  }
  EXPECT_TRUE(red);
  // The images are drawn too: pixel (0, 0) of the first is 255, black.
  auto [px, py] = Centre(*ShapesOf<figure::Image>(*f)[0], 0, 0);
  EXPECT_EQ(png.at(px, py), (Rgb{0, 0, 0}));
}

TEST(ConfusionMatrix, CountsTrueClassByRow) {
  Tensor y_true = Tensor::from<uint8_t>({6}, {0, 1, 2, 2, 1, 0});
  Tensor y_pred = Tensor::from<int32_t>({6}, {0, 2, 2, 2, 1, 1});
  Tensor m = metrics::confusion_matrix(y_true, y_pred, 3);
  EXPECT_EQ(m.dtype(), DType::kI32);
  EXPECT_EQ(m.shape(), (Shape{3, 3}));
  EXPECT_THAT(testing::values(m), ElementsAre(1, 1, 0,  //
                                              0, 1, 1,  //
                                              0, 0, 2));
  // Scores (N, classes) count by their argmax.
  Tensor scores = Tensor::from<float>(
      {6, 3}, {.9f, 0, 0, 0, 0, 1, 0, .2f, .8f, 0, 0, 3, -1, 5, 0, .1f, .7f, .2f});
  EXPECT_THAT(testing::values(metrics::confusion_matrix(y_true, scores, 3)),
              ElementsAre(1, 1, 0, 0, 1, 1, 0, 0, 2));
  // Classes that never occur are rows and columns of zeros.
  Tensor wide = metrics::confusion_matrix(y_true, y_pred, 5);
  EXPECT_EQ(wide.shape(), (Shape{5, 5}));
  EXPECT_EQ(wide.data<int32_t>()[2 * 5 + 2], 2);
  EXPECT_EQ(wide.data<int32_t>()[4 * 5 + 4], 0);
}

TEST(PlotConfusionMatrix, PngShadesCellsByCount) {
  testing::TempDir temp;
  Tensor m = Tensor::from<int32_t>({2, 2}, {7, 0, 3, 14});
  const std::string path = temp.path("cm.png");
  plot::confusion_matrix(m, {"cat", "dog"}, path);
  auto f = plot::confusion_matrix_figure(m, {"cat", "dog"}, {});
  ASSERT_TRUE(f.ok()) << f.status();
  Png png = ReadPng(path);
  std::vector<const figure::Rect*> cells;
  for (const figure::Rect* r : ShapesOf<figure::Rect>(*f)) {
    if (r->filled) cells.push_back(r);
  }
  ASSERT_EQ(cells.size(), 4u);
  // A corner of each cell, inside its outline and away from the count.
  auto corner = [&](int k) {
    return png.at(static_cast<int>(cells[k]->x) + 3, static_cast<int>(cells[k]->y) + 3);
  };
  EXPECT_EQ(corner(1), (Rgb{255, 255, 255}));     // 0
  EXPECT_EQ(corner(3), (Rgb{0x08, 0x30, 0x6b}));  // 14, the largest
  EXPECT_EQ(corner(0), cells[0]->fill);
  EXPECT_LT(corner(0).r, corner(2).r);  // 7 darker than 3
  std::vector<std::string> counts;
  for (const figure::Text* t : ShapesOf<figure::Text>(*f)) counts.push_back(t->text);
  EXPECT_THAT(counts, ::testing::IsSupersetOf({"7", "0", "3", "14", "cat 0", "dog 1"}));
}

TEST(PlotFiles, FormatFollowsTheExtension) {
  testing::TempDir temp;
  Tensor x = TwoImages(), y = Tensor::from<uint8_t>({2}, {0, 1});
  plot::images(x, y, {}, temp.path("a.SVG"));
  plot::images(x, y, {}, temp.path("a.Png"));
  const std::string svg = ReadText(temp.path("a.SVG"));
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_THAT(svg, HasSubstr("data:image/png;base64,"));  // self-contained
  EXPECT_EQ(ReadText(temp.path("a.Png")).substr(0, 8), "\x89PNG\r\n\x1a\n");
  // Names are escaped in SVG.
  plot::images(x, y, {"<T&C>", "\"q\""}, temp.path("b.svg"));
  EXPECT_THAT(ReadText(temp.path("b.svg")), HasSubstr("&lt;T&amp;C&gt;"));
  // History::plot shares the figure, so it writes PNG too.
  History h;
  h.history["loss"] = {1.0, 0.6, 0.4};
  h.history["accuracy"] = {0.5, 0.7, 0.8};
  h.epoch = {0, 1, 2};
  h.plot(temp.path("curves.png"));
  Png curves = ReadPng(temp.path("curves.png"));
  EXPECT_EQ(curves.width, 840);
  bool blue = false;
  for (size_t i = 0; i + 2 < curves.rgb.size() && !blue; i += 3) {
    blue = curves.rgb[i] == 0x1f && curves.rgb[i + 1] == 0x77 && curves.rgb[i + 2] == 0xb4;
  }
  EXPECT_TRUE(blue) << "no training curve in the PNG";
}

// rsvg-convert renders `svg` to PNG; returns false (and says why) if it fails.
bool Render(const std::string& svg, const std::string& png) {
  std::string command = "rsvg-convert -o '" + png + "' '" + svg + "' 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return false;
  std::string output;
  char buf[512];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) output.append(buf, n);
  int status = ::pclose(pipe);
  bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  EXPECT_TRUE(ok) << "rsvg-convert failed on " << svg << ":\n" << output;
  return ok;
}

TEST(PlotSvg, RendersWithRsvgConvert) {
  if (std::system("command -v rsvg-convert >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "rsvg-convert not found: install Debian's librsvg2-bin to render the SVGs";
  }
  testing::TempDir temp;
  Tensor x(DType::kU8, {3, 8, 8}), y = Tensor::from<uint8_t>({3}, {0, 1, 1});
  for (int64_t i = 0; i < x.size(); ++i) x.data<uint8_t>()[i] = 255;  // all black
  Tensor p = Tensor::from<float>({3, 2}, {0.9f, 0.1f, 0.2f, 0.8f, 0.6f, 0.4f});
  const std::vector<std::string> names = {"T-shirt/top", "Ankle boot"};
  plot::images(x, y, names, temp.path("grid.svg"));
  plot::predictions(x, p, y, names, temp.path("predictions.svg"));
  plot::confusion_matrix(metrics::confusion_matrix(y, p, 2), names, temp.path("cm.svg"));
  History h;
  h.history["loss"] = {1.0, 0.5};
  h.history["val_loss"] = {1.1, 0.7};
  h.epoch = {0, 1};
  h.plot(temp.path("curves.svg"));
  for (const char* name : {"grid", "predictions", "cm", "curves"}) {
    SCOPED_TRACE(name);
    const std::string svg = temp.path(std::string(name) + ".svg");
    const std::string png = temp.path(std::string(name) + "-rsvg.png");
    if (!Render(svg, png)) continue;
    Png rendered = ReadPng(png);
    EXPECT_GT(rendered.width, 0);
  }
  // The embedded images render where the figure put them: the centre of the
  // first (all 255) is black.
  Png grid = ReadPng(temp.path("grid-rsvg.png"));
  auto f = plot::images_figure(x, y, names, {});
  ASSERT_TRUE(f.ok());
  ASSERT_EQ(grid.width, f->width);
  auto [px, py] = Centre(*ShapesOf<figure::Image>(*f)[0], 4, 4);
  EXPECT_EQ(grid.at(px, py), (Rgb{0, 0, 0}));
}

TEST(Show, AsciiShadesTwoCharactersPerPixel) {
  Tensor image = Tensor::from<uint8_t>({2, 3}, {0, 128, 255, 30, 200, 90});
  std::ostringstream out;
  show(image, out, ShowMode::kAscii);
  EXPECT_EQ(out.str(),
            "  ++@@\n"
            "..##--\n");
  // kAuto on a stream that is not std::cout is ASCII too; floats in [0, 1] scale to 255.
  std::ostringstream automatic;
  show(image / 255.0f, automatic);
  EXPECT_EQ(automatic.str(), out.str());
}

TEST(Show, TrueColourUsesUpperHalfBlocks) {
  Tensor image = Tensor::from<uint8_t>({3, 2}, {0, 255, 16, 128, 7, 9});
  std::ostringstream out;
  show(image, out, ShowMode::kTrueColor);
  EXPECT_EQ(out.str(),
            "\x1b[38;2;0;0;0m\x1b[48;2;16;16;16m\u2580"
            "\x1b[38;2;255;255;255m\x1b[48;2;128;128;128m\u2580\x1b[0m\n"
            // The odd last row has no lower pixel: the terminal's background shows.
            "\x1b[38;2;7;7;7m\x1b[49m\u2580\x1b[38;2;9;9;9m\x1b[49m\u2580\x1b[0m\n");
}

TEST(Show, Colour256UsesTheGrayRamp) {
  // 0 black (16), 255 white (231), 128 the ramp's 128 (232 + 12), 10 its 8 (232).
  Tensor image = Tensor::from<uint8_t>({2, 2}, {0, 255, 128, 10});
  std::ostringstream out;
  show(image, out, ShowMode::kColor256);
  EXPECT_EQ(out.str(),
            "\x1b[38;5;16m\x1b[48;5;244m\u2580\x1b[38;5;231m\x1b[48;5;232m\u2580\x1b[0m\n");
  // One image of a batch, as x[0], and (1, height, width) alike.
  std::ostringstream row;
  show(image.reshape({1, 2, 2}), row, ShowMode::kColor256);
  EXPECT_EQ(row.str(), out.str());
}

}  // namespace
}  // namespace kiln
