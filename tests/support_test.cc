// support/: Python format specs, JSON field readers, environment variables and
// atomic writes that clean up after a crashed writer.
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kiln/advanced.h"
#include "support/env.h"
#include "support/files.h"
#include "support/format.h"
#include "support/json.h"
#include "test_util.h"

namespace kiln {
namespace {

using ::testing::HasSubstr;

FormatValue I(int64_t v) { return {true, v, 0}; }
FormatValue F(double v) { return {false, 0, v}; }

struct FormatCase {
  FormatValue value;
  const char* spec;
  std::string python;  // format(value, spec) in Python 3
};

TEST(FormatField, MatchesPythonsStrFormat) {
  const FormatCase cases[] = {
      {I(7), "02d", "07"},
      {I(7), "", "7"},
      {I(123), ">6", "   123"},
      {I(123), "<6", "123   "},
      {I(123), "^7", "  123  "},
      {I(-5), "04d", "-005"},
      {I(5), "+d", "+5"},
      {I(5), " d", " 5"},
      {I(1234567), ",", "1,234,567"},
      {I(1234567), "_d", "1_234_567"},
      {I(3), ".2f", "3.00"},
      {I(3), "e", "3.000000e+00"},
      {F(0.5), "", "0.5"},
      {F(1.0), "", "1.0"},
      {F(1e-05), "", "1e-05"},
      {F(0.123456789), ".4", "0.1235"},
      {F(100.0), ".4", "100.0"},
      {F(12345.678), ".4", "1.235e+04"},
      {F(0.25), ".2f", "0.25"},
      {F(0.25), ".3e", "2.500e-01"},
      {F(0.25), "E", "2.500000E-01"},
      {F(1234.5), "g", "1234.5"},
      {F(0.0001234), ".2g", "0.00012"},
      {F(0.256), ".1%", "25.6%"},
      {F(0.5), "8.3f", "   0.500"},
      {F(0.5), "*^9.2f", "**0.50***"},
      {F(-0.5), "09.3f", "-0000.500"},
      {F(NAN), ".2f", "nan"},
      {F(INFINITY), "", "inf"},
      {F(-INFINITY), ".1f", "-inf"},
      {F(2.5), "+.1f", "+2.5"},
      {F(1e+16), "", "1e+16"},
      {F(0.1), "G", "0.1"},
      {I(7), "g", "7"},
      {I(7), "%", "700.000000%"},
      {I(1), "300d", std::string(299, ' ') + "1"},
  };
  for (const FormatCase& c : cases) {
    absl::StatusOr<std::string> got = format_field(c.value, c.spec);
    ASSERT_TRUE(got.ok()) << c.spec << ": " << got.status();
    EXPECT_EQ(*got, c.python) << "spec \"" << c.spec << "\"";
  }
}

TEST(FormatField, RejectsWhatPythonRejectsOrKilnDoesNotSupport) {
  struct Bad {
    FormatValue value;
    const char* spec;
    const char* why;
  };
  const Bad bad[] = {
      {F(1.0), "d", "'d' needs an integer"},
      {I(1), "s", "the type 's' is not supported"},
      {I(1), "n", "the type 'n' is not supported"},
      {F(1.0), ".4d", "'d' needs an integer"},
      {I(1), "#x", "alternate form"},
      {I(1), "2000d", "width or precision over 1000"},
      {F(1.0), ".5000f", "width or precision over 1000"},
      {F(1.0), "4.", "not followed by a precision"},
      {I(1), "dd", "unexpected characters"},
      {I(1), ".2", "no precision without a float type"},
  };
  for (const Bad& b : bad) {
    absl::StatusOr<std::string> got = format_field(b.value, b.spec);
    ASSERT_FALSE(got.ok()) << b.spec << " gave " << *got;
    EXPECT_THAT(std::string(got.status().message()), HasSubstr(b.why)) << b.spec;
    EXPECT_THAT(std::string(got.status().message()), HasSubstr(b.spec));
  }
}

TEST(Format, NumbersAndSizes) {
  EXPECT_EQ(with_commas(1234567), "1,234,567");
  EXPECT_EQ(with_commas(-1000), "-1,000");
  EXPECT_EQ(with_commas(INT64_MIN), "-9,223,372,036,854,775,808");
  EXPECT_EQ(human_bytes(812), "812 B");
  EXPECT_EQ(human_bytes(407080), "397.5 KiB");
  EXPECT_EQ(keras_bytes(0), "0.00 B");
  EXPECT_EQ(keras_bytes(407080), "397.54 KB");
  EXPECT_EQ(format_ms(0.0123), "12.300");
  EXPECT_EQ(format_ms(0.0123, 1), "12.3");
}

TEST(JsonFields, NamesTheObjectTheFieldAndTheProblem) {
  Json j = *parse_json(
      R"({"units": 1e30, "rate": "x", "n": 3.0, "neg": -1, "big": 18446744073709551615})", "test");
  JsonFields f(j, "layer 2 of m.kiln");
  EXPECT_EQ(*f.integer("n", 1, 10), 3);
  EXPECT_THAT(std::string(f.integer("units", 1, 100).status().message()),
              HasSubstr("layer 2 of m.kiln: field \"units\" must be an integer in [1, 100], got a "
                        "number 1e+30"));
  EXPECT_THAT(std::string(f.number("rate").status().message()), HasSubstr("got a string \"x\""));
  EXPECT_FALSE(f.integer("neg", 0, 10).ok());
  EXPECT_FALSE(f.integer("big", 0, INT64_MAX).ok());
  EXPECT_THAT(std::string(f.string("missing").status().message()),
              HasSubstr("missing field \"missing\""));
  EXPECT_THAT(std::string(parse_json("{\"a\": [1, 2", "header of f").status().message()),
              HasSubstr("header of f: invalid JSON"));
  std::string deep = std::string(100, '[') + std::string(100, ']');
  EXPECT_THAT(std::string(parse_json(deep, "deep").status().message()),
              HasSubstr("nested deeper than 64"));
}

TEST(Env, IntegersAreCheckedAndNamed) {
  testing::ScopedEnv env("KILN_TEST_INT");
  EXPECT_EQ(*env_int("KILN_TEST_INT", 7, 1, 10), 7);
  setenv("KILN_TEST_INT", "", 1);
  EXPECT_EQ(*env_int("KILN_TEST_INT", 7, 1, 10), 7);
  setenv("KILN_TEST_INT", "3", 1);
  EXPECT_EQ(*env_int("KILN_TEST_INT", 7, 1, 10), 3);
  for (const char* bad : {"11", "0", "3x", "-1", "99999999999999999999"}) {
    setenv("KILN_TEST_INT", bad, 1);
    absl::StatusOr<int> v = env_int("KILN_TEST_INT", 7, 1, 10);
    ASSERT_FALSE(v.ok()) << bad;
    EXPECT_THAT(std::string(v.status().message()), HasSubstr("KILN_TEST_INT=\""));
  }
}

// A writer killed between creating its temporary and renaming it leaves
// <path>.tmp.<pid>; the next save of that path removes it, but never the
// temporary of a writer that is still running.
TEST(AtomicWrite, RemovesTemporariesOfDeadWritersOnly) {
  testing::TempDir temp;
  const std::string path = (temp.dir() / "model.kiln").string();
  pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  waitpid(child, nullptr, 0);  // a pid that no longer runs
  const std::string dead = path + ".tmp." + std::to_string(child) + ".0";
  const std::string alive = path + ".tmp." + std::to_string(getppid()) + ".3";
  const std::string other = path + ".tmp.notapid";
  for (const std::string& p : {dead, alive, other}) std::ofstream(p) << "partial";
  ASSERT_TRUE(write_file_atomically(path, "new").ok());
  EXPECT_FALSE(std::filesystem::exists(dead));
  EXPECT_TRUE(std::filesystem::exists(alive));
  EXPECT_TRUE(std::filesystem::exists(other));
  std::ifstream in(path);
  std::string content((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(content, "new");
}

}  // namespace
}  // namespace kiln
