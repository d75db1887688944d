#include <filesystem>
#include <fstream>
#include <iostream>
#include <typeinfo>

#include "gtest/gtest.h"
#include "kiln/advanced.h"
#include "tests/bad_input/catalogue.h"
#include "tests/test_util.h"

namespace kiln::bad_input {

std::vector<Case>& cases() {
  static auto* all = new std::vector<Case>;
  return *all;
}

int add(std::vector<Case> more) {
  int n = static_cast<int>(more.size());
  for (Case& c : more) cases().push_back(std::move(c));
  return n;
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

ToolResult run_tool(const std::string& args) {
  std::string command = str_cat(KILN_TOOL_PATH, " ", args, " </dev/null 2>&1");
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed"};
  std::string output;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) output.append(buf, n);
  int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), output};
}

absl::Status status_of(const std::function<void()>& fn) {
  try {
    fn();
    return absl::OkStatus();
  } catch (const Error& e) {
    return to_status(e);
  } catch (const std::exception& e) {
    return absl::InternalError(
        str_cat("a non-Kiln exception escaped: ", typeid(e).name(), ": ", e.what()));
  }
}

namespace {

class Catalogue : public ::testing::TestWithParam<Case> {};

TEST_P(Catalogue, ErrorSaysWhatAndWhere) {
  const Case& c = GetParam();
  kiln::testing::TempDir temp;
  const std::string dir = temp.dir().string();
  absl::Status status = c.run(dir);
  ASSERT_FALSE(status.ok()) << c.name << ": no error";
  EXPECT_NE(status.code(), absl::StatusCode::kInternal) << status;
  std::string message(status.message());
  if (std::getenv("KILN_SHOW_ERRORS")) std::cerr << c.name << ": " << message << "\n";
  for (std::string want : c.message_has) {
    for (size_t at; (at = want.find("{dir}")) != std::string::npos;) want.replace(at, 5, dir);
    EXPECT_NE(message.find(want), std::string::npos)
        << c.name << ": the message does not contain \"" << want << "\":\n"
        << message;
  }
  // Errors stay readable: hostile bytes are escaped and long tokens cut.
  EXPECT_LT(message.size(), 2000u) << message;
  for (unsigned char ch : message) {
    EXPECT_TRUE(ch == '\n' || ch == '\t' || ch >= 0x20)
        << c.name << ": raw control byte in " << message;
  }
}

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  std::string name;
  for (char ch : info.param.name) name += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  return name;
}

INSTANTIATE_TEST_SUITE_P(All, Catalogue, ::testing::ValuesIn(cases()), CaseName);

}  // namespace
}  // namespace kiln::bad_input
