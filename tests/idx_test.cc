// IDX reading (raw and gzip) and the MNIST / Fashion-MNIST loaders on small
// generated files; no network and no real dataset.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>

#include "kiln/datasets.h"
#include "support/status.h"
#include "test_util.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// The bytes of an IDX file: magic (0, 0, type, rank), big-endian sizes, data.
std::string Idx(const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data,
                uint8_t type = 0x08) {
  std::string s = {0, 0, static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) s += static_cast<char>((d >> shift) & 0xff);
  }
  s.append(data.begin(), data.end());
  return s;
}

std::vector<uint8_t> Iota(size_t n, int start = 0) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>((start + i) % 256);
  return v;
}

// Each test gets its own directory (removed afterwards) and a restored KILN_DATA.
class IdxTest : public ::testing::Test {
 public:
  std::string WriteRaw(const std::string& name, const std::string& bytes) {
    std::string path = (dir_ / name).string();
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }

  std::string WriteGzip(const std::string& name, const std::string& bytes) {
    std::string path = (dir_ / name).string();
    fs::create_directories(fs::path(path).parent_path());
    gzFile f = gzopen(path.c_str(), "wb");
    EXPECT_NE(f, nullptr);
    EXPECT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
              static_cast<int>(bytes.size()));
    EXPECT_EQ(gzclose(f), Z_OK);
    return path;
  }

  static std::string ReadAll(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  // The error read_idx(path) throws; the test fails if it succeeds.
  static absl::Status ReadError(const std::string& path) {
    try {
      Tensor t = datasets::read_idx(path);
      ADD_FAILURE() << "read " << t.type_string();
      return absl::OkStatus();
    } catch (const Error& e) {
      return to_status(e);
    }
  }

  testing::TempDir temp_;
  const fs::path& dir_ = temp_.dir();
  testing::ScopedEnv data_env_{"KILN_DATA"};
};

TEST_F(IdxTest, ReadsRawImages) {
  std::string path = WriteRaw("images-idx3-ubyte", Idx({2, 3, 4}, Iota(24, 10)));
  Tensor t = datasets::read_idx(path);
  EXPECT_EQ(t.dtype(), DType::kU8);
  EXPECT_EQ(t.shape(), (Shape{2, 3, 4}));
  const std::vector<uint8_t> expected = Iota(24, 10);
  EXPECT_EQ(testing::values(t), std::vector<float>(expected.begin(), expected.end()));
}

TEST_F(IdxTest, ReadsSizesAbove255BigEndian) {
  std::string path = WriteRaw("labels", Idx({300}, Iota(300)));
  Tensor t = datasets::read_idx(path);
  EXPECT_EQ(t.shape(), (Shape{300}));
  EXPECT_EQ(t.data<uint8_t>()[299], 299 % 256);
}

TEST_F(IdxTest, ReadsGzipByContentWhateverTheName) {
  for (const char* name : {"labels-idx1-ubyte.gz", "labels-without-suffix"}) {
    SCOPED_TRACE(name);
    std::string path = WriteGzip(name, Idx({5}, {9, 0, 4, 1, 9}));
    Tensor t = datasets::read_idx(path);
    EXPECT_EQ(t.shape(), (Shape{5}));
    EXPECT_THAT(testing::values(t), ::testing::ElementsAre(9, 0, 4, 1, 9));
  }
}

TEST_F(IdxTest, ReadsEmptyDimension) {
  Tensor t = datasets::read_idx(WriteRaw("empty-idx3", Idx({0, 28, 28}, {})));
  EXPECT_EQ(t.shape(), (Shape{0, 28, 28}));
}

TEST_F(IdxTest, WrongMagic) {
  std::string bytes = Idx({2}, {1, 2});
  bytes[0] = 0x01;
  std::string path = WriteRaw("bad-magic", bytes);
  absl::Status s = ReadError(path);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(s.message()),
              ::testing::StartsWith("malformed IDX file " + path +
                                    ": wrong magic number 0x01000801 (an IDX file starts with two "
                                    "zero bytes"));
}

TEST_F(IdxTest, UnsupportedElementType) {
  std::string path = WriteRaw("floats", Idx({2}, {0, 0, 0, 0, 0, 0, 0, 0}, 0x0D));
  absl::Status s = ReadError(path);
  EXPECT_EQ(s.message(), "malformed IDX file " + path +
                             ": element type 0x0d is not supported (only unsigned bytes, 0x08)");
}

TEST_F(IdxTest, UnsupportedRank) {
  std::string path = WriteRaw("rank0", Idx({}, {}));
  EXPECT_THAT(ReadError(path).message(), HasSubstr(path + ": unsupported rank 0"));
}

TEST_F(IdxTest, TruncatedData) {
  std::string path = WriteRaw("short", Idx({5}, {1, 2, 3}));
  absl::Status s = ReadError(path);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(s.message(), "malformed IDX file " + path +
                             ": truncated: the header declares 5 bytes of data for shape [5] but "
                             "only 3 are present");
}

TEST_F(IdxTest, TrailingExtraBytes) {
  std::string path = WriteRaw("long", Idx({2}, {1, 2, 3}));
  EXPECT_EQ(ReadError(path).message(),
            "malformed IDX file " + path +
                ": wrong size: more data than the header's shape [2] declares");
}

TEST_F(IdxTest, TruncatedHeader) {
  // Rank 3 but only one size follows the magic number.
  std::string path = WriteRaw("header", Idx({60000}, {}).substr(0, 8).replace(3, 1, "\x03"));
  EXPECT_EQ(ReadError(path).message(), "malformed IDX file " + path + ": truncated header");
}

TEST_F(IdxTest, EmptyFile) {
  std::string path = WriteRaw("empty", "");
  EXPECT_EQ(ReadError(path).message(),
            "malformed IDX file " + path + ": shorter than the 4-byte magic number");
}

TEST_F(IdxTest, MissingFile) {
  std::string path = (dir_ / "nope").string();
  absl::Status s = ReadError(path);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "no such file: " + path);
  EXPECT_EQ(ReadError(dir_.string()).message(), dir_.string() + " is a directory, not an IDX file");
}

// Corrupt compressed data: the deflate stream is garbage after the header.
TEST_F(IdxTest, CorruptGzipData) {
  std::string gz = ReadAll(WriteGzip("tmp.gz", Idx({64}, Iota(64))));
  ASSERT_GT(gz.size(), 30u);
  for (size_t i = 10; i < gz.size() - 8; ++i) gz[i] = static_cast<char>(0xff);
  std::string path = WriteRaw("corrupt.gz", gz);
  absl::Status s = ReadError(path);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), HasSubstr("malformed IDX file " + path + ": cannot decompress"));
}

// All data inflates fine but the gzip trailer's checksum is wrong: the file
// is corrupt, which is not the same problem as "more data than declared".
TEST_F(IdxTest, CorruptGzipChecksum) {
  std::string gz = ReadAll(WriteGzip("tmp.gz", Idx({64}, Iota(64))));
  gz[gz.size() - 8] = static_cast<char>(gz[gz.size() - 8] ^ 0x5a);  // CRC-32
  std::string path = WriteRaw("bad-crc.gz", gz);
  absl::Status s = ReadError(path);
  EXPECT_THAT(s.message(), HasSubstr("malformed IDX file " + path + ": cannot decompress"));
}

TEST_F(IdxTest, TruncatedGzip) {
  std::string gz = ReadAll(WriteGzip("tmp.gz", Idx({2000}, Iota(2000))));
  std::string path = WriteRaw("cut.gz", gz.substr(0, gz.size() / 2));
  absl::Status s = ReadError(path);
  EXPECT_THAT(s.message(), HasSubstr("malformed IDX file " + path + ": "));
  EXPECT_THAT(s.message(),
              ::testing::AnyOf(HasSubstr("cannot decompress"), HasSubstr("truncated")));
}

// A fake dataset: `train` and `test` examples of 28x28 images whose pixels
// encode (example, position), with labels 9 - example.
void WriteFakeDataset(IdxTest* t, const std::string& sub, uint32_t train, uint32_t test,
                      std::string (IdxTest::*write_images)(const std::string&, const std::string&),
                      std::string (IdxTest::*write_labels)(const std::string&,
                                                           const std::string&)) {
  for (auto [prefix, n] : {std::pair<std::string, uint32_t>{"train", train}, {"t10k", test}}) {
    std::vector<uint8_t> pixels(n * 28 * 28), labels(n);
    for (uint32_t i = 0; i < n; ++i) {
      labels[i] = static_cast<uint8_t>(9 - i);
      for (uint32_t p = 0; p < 28 * 28; ++p) pixels[i * 784 + p] = static_cast<uint8_t>(i * 7 + p);
    }
    std::string images_name = sub + "/" + prefix + "-images-idx3-ubyte";
    std::string labels_name = sub + "/" + prefix + "-labels-idx1-ubyte";
    bool images_gz = write_images == &IdxTest::WriteGzip;
    bool labels_gz = write_labels == &IdxTest::WriteGzip;
    (t->*write_images)(images_name + (images_gz ? ".gz" : ""), Idx({n, 28, 28}, pixels));
    (t->*write_labels)(labels_name + (labels_gz ? ".gz" : ""), Idx({n}, labels));
  }
}

void ExpectFakeSplit(const datasets::Split& s, uint32_t n) {
  ASSERT_EQ(s.x.shape(), (Shape{n, 28, 28}));
  ASSERT_EQ(s.y.shape(), (Shape{n}));
  EXPECT_EQ(s.x.dtype(), DType::kU8);
  EXPECT_EQ(s.y.dtype(), DType::kU8);
  for (uint32_t i = 0; i < n; ++i) {
    EXPECT_EQ(s.y.data<uint8_t>()[i], 9 - i);
    EXPECT_EQ(s.x.data<uint8_t>()[i * 784 + 100], static_cast<uint8_t>(i * 7 + 100));
  }
}

TEST_F(IdxTest, MnistLoadDataFromKilnData) {
  WriteFakeDataset(this, "mnist", 5, 3, &IdxTest::WriteGzip, &IdxTest::WriteRaw);
  setenv("KILN_DATA", dir_.c_str(), 1);
  EXPECT_EQ(datasets::data_dir(), dir_.string());
  auto [train, test] = datasets::mnist::load_data();
  ExpectFakeSplit(train, 5);
  ExpectFakeSplit(test, 3);
}

TEST_F(IdxTest, FashionMnistLoadDataFromKilnData) {
  WriteFakeDataset(this, "fashion-mnist", 4, 2, &IdxTest::WriteRaw, &IdxTest::WriteGzip);
  setenv("KILN_DATA", dir_.c_str(), 1);
  auto [train, test] = datasets::fashion_mnist::load_data();
  ExpectFakeSplit(train, 4);
  ExpectFakeSplit(test, 2);
}

TEST_F(IdxTest, MissingMnistNamesTheFetchCommand) {
  setenv("KILN_DATA", dir_.c_str(), 1);
  try {
    datasets::mnist::load_data();
    FAIL() << "load_data succeeded without files";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_THAT(e.what(), HasSubstr("MNIST file train-images-idx3-ubyte[.gz] not found in " +
                                    dir_.string() + "/mnist"));
    EXPECT_THAT(e.what(), HasSubstr("fetch it with: scripts/fetch-data"));
  }
}

TEST_F(IdxTest, ImagesAndLabelsOfDifferentCountsAreAnError) {
  WriteFakeDataset(this, "mnist", 5, 3, &IdxTest::WriteRaw, &IdxTest::WriteRaw);
  WriteRaw("mnist/t10k-labels-idx1-ubyte", Idx({2}, {1, 2}));
  setenv("KILN_DATA", dir_.c_str(), 1);
  try {
    datasets::mnist::load_data();
    FAIL() << "load_data accepted 3 images with 2 labels";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(),
                HasSubstr("MNIST labels file " + (dir_ / "mnist/t10k-labels-idx1-ubyte").string() +
                          " holds u8[2], not one label for each of the 3 images"));
  }
}

TEST_F(IdxTest, MalformedDatasetFileErrorNamesThePath) {
  WriteFakeDataset(this, "mnist", 5, 3, &IdxTest::WriteRaw, &IdxTest::WriteRaw);
  std::string bad = WriteRaw("mnist/train-labels-idx1-ubyte", Idx({5}, {1, 2}));
  setenv("KILN_DATA", dir_.c_str(), 1);
  EXPECT_THROW(
      {
        try {
          datasets::mnist::load_data();
        } catch (const Error& e) {
          EXPECT_THAT(e.what(), HasSubstr("malformed IDX file " + bad + ": truncated"));
          throw;
        }
      },
      Error);
}

TEST_F(IdxTest, DataDirDefaultsToHome) {
  unsetenv("KILN_DATA");
  const char* home = std::getenv("HOME");
  ASSERT_NE(home, nullptr);
  EXPECT_EQ(datasets::data_dir(), std::string(home) + "/.kiln/datasets");
  setenv("KILN_DATA", "", 1);
  EXPECT_EQ(datasets::data_dir(), std::string(home) + "/.kiln/datasets");
}

}  // namespace
}  // namespace kiln
