#include "cluster/group_message.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "cluster/checkpoint_file.h"
#include "tests/testing/temp_dir.h"

namespace vigil::cluster {
namespace {

using storage::LogAppend;
using storage::LogEntryKind;

TEST_CASE("Group message round-trips every entry with kind, time, gateway and watermark",
          "[cluster][group_message]") {
  const std::string big(70000, 'x');
  const std::vector<LogAppend> group = {
      {.gateway_id = "gw-1", .watermark = {7, 1}, .record = "abc", .stored_at = 1000},
      {.gateway_id = {},
       .watermark = {},
       .record = "ctl",
       .kind = LogEntryKind::kControl,
       .stored_at = 1000},
      {.gateway_id = "gw-2", .watermark = {1u << 30, 99}, .record = big, .stored_at = 998},
  };
  std::string body;
  EncodeGroup(group, &body);
  // Framing overhead stays small: the records are most of the message.
  CHECK(body.size() < big.size() + 3 + 3 + 72 + 16);  // under 24 bytes per entry
  std::vector<GroupEntry> out;
  std::vector<uint32_t> indexes;
  REQUIRE(DecodeGroup(body, [&](uint32_t i, const GroupEntry& e) {
            indexes.push_back(i);
            out.push_back(e);
            return alarm::Status::Ok();
          }).ok());
  REQUIRE(out.size() == 3);
  CHECK(indexes == std::vector<uint32_t>{0, 1, 2});
  CHECK(out[0].gateway_id == "gw-1");
  CHECK(out[0].watermark == storage::Watermark{7, 1});
  CHECK(out[0].record == "abc");
  CHECK(out[0].kind == LogEntryKind::kBatch);
  CHECK(out[1].kind == LogEntryKind::kControl);
  CHECK(out[1].gateway_id.empty());
  CHECK(out[2].stored_at == 998);
  CHECK(out[2].watermark == storage::Watermark{1u << 30, 99});
  CHECK(out[2].record == big);
}

TEST_CASE("Group message rejects truncated, foreign and trailing bytes",
          "[cluster][group_message]") {
  const std::vector<LogAppend> group = {
      {.gateway_id = "gw", .watermark = {1, 2}, .record = "payload", .stored_at = 5}};
  std::string body;
  EncodeGroup(group, &body);
  auto decode = [](std::string_view b) {
    return DecodeGroup(b, [](uint32_t, const GroupEntry&) { return alarm::Status::Ok(); });
  };
  REQUIRE(decode(body).ok());
  for (size_t cut = 0; cut < body.size(); ++cut) {
    INFO("cut at " << cut);
    CHECK(decode(std::string_view(body).substr(0, cut)).code() == alarm::Status::Code::kCorruption);
  }
  CHECK(decode(body + "x").code() == alarm::Status::Code::kCorruption);
  std::string foreign = body;
  foreign[3] = '9';
  CHECK(decode(foreign).code() == alarm::Status::Code::kCorruption);
}

TEST_CASE("Message id is the batch identities: same batches same id, control groups unique",
          "[cluster][group_message]") {
  const std::vector<LogAppend> a = {{.gateway_id = "gw", .watermark = {1, 5}, .record = "r1"}};
  // Same identity, other bytes (a resend re-encodes): same id.
  const std::vector<LogAppend> a_again = {
      {.gateway_id = "gw", .watermark = {1, 5}, .record = "other", .stored_at = 9}};
  const std::vector<LogAppend> b = {{.gateway_id = "gw", .watermark = {1, 6}, .record = "r1"}};
  const std::vector<LogAppend> ab = {{.gateway_id = "gw", .watermark = {1, 5}, .record = "r1"},
                                     {.gateway_id = "gw", .watermark = {1, 6}, .record = "r1"}};
  // "g"+"w1" must not read as "gw"+"1".
  const std::vector<LogAppend> shifted = {
      {.gateway_id = "gw1", .watermark = {1, 5}, .record = "r1"}};
  CHECK(GroupMessageId(a, 1, 1) == GroupMessageId(a_again, 2, 2));
  CHECK(GroupMessageId(a, 1, 1) != GroupMessageId(b, 1, 1));
  CHECK(GroupMessageId(a, 1, 1) != GroupMessageId(ab, 1, 1));
  CHECK(GroupMessageId(a, 1, 1) != GroupMessageId(shifted, 1, 1));
  const std::vector<LogAppend> control = {
      {.gateway_id = {}, .watermark = {}, .record = "tick", .kind = LogEntryKind::kControl}};
  CHECK(GroupMessageId(control, 1, 1) != GroupMessageId(control, 1, 2));
}

TEST_CASE("Checkpoint file round-trips and refuses a damaged file", "[cluster][checkpoint]") {
  testing::TempDir dir;
  const auto file = dir / "ckpt";
  auto missing = LoadCheckpoint(file);
  REQUIRE(missing.has_value());
  CHECK(!missing->has_value());

  CheckpointState state;
  state.replay_from = 5u << 16;
  state.marks_through = 9u << 16;
  state.marks["gw-a"] = {1, 3};
  state.marks["gw-b"] = {2, 7};
  REQUIRE(SaveCheckpoint(file, state).ok());
  auto loaded = LoadCheckpoint(file);
  REQUIRE(loaded.has_value());
  REQUIRE(loaded->has_value());
  CHECK((*loaded)->replay_from == state.replay_from);
  CHECK((*loaded)->marks_through == state.marks_through);
  CHECK((*loaded)->marks == state.marks);

  // Truncated (no rename-over would leave this, but a copied file might).
  std::filesystem::resize_file(file, std::filesystem::file_size(file) - 3);
  CHECK(LoadCheckpoint(file).error().code() == alarm::Status::Code::kCorruption);
}

}  // namespace
}  // namespace vigil::cluster
