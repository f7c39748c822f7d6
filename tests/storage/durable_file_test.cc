#include "storage/durable_file.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "tests/testing/temp_dir.h"

namespace vigil::storage {
namespace {

std::string Read(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST_CASE("WriteFileDurably replaces a file whole and leaves no temporary behind",
          "[storage][durable_file]") {
  testing::TempDir dir;
  const std::filesystem::path file = dir / "state";
  REQUIRE(WriteFileDurably(file, std::string("first\0bytes", 11)).ok());
  CHECK(Read(file) == std::string("first\0bytes", 11));
  REQUIRE(WriteFileDurably(file, "second").ok());
  CHECK(Read(file) == "second");
  REQUIRE(WriteFileDurably(file, "").ok());
  CHECK(Read(file).empty());
  CHECK_FALSE(std::filesystem::exists(dir / "state.tmp"));
}

TEST_CASE("WriteFileDurably names the step that failed", "[storage][durable_file]") {
  testing::TempDir dir;
  const alarm::Status s = WriteFileDurably(dir / "missing" / "state", "x");
  CHECK(s.code() == alarm::Status::Code::kIOError);
  CHECK_THAT(s.message(), Catch::Contains("create") && Catch::Contains("missing"));
}

}  // namespace
}  // namespace vigil::storage
