#include "cluster/checkpoint_file.h"

#include <cstring>
#include <fstream>
#include <iterator>

#include "storage/durable_file.h"

namespace vigil::cluster {
namespace {

constexpr char kMagic[4] = {'V', 'G', 'C', '2'};
constexpr char kMagicV1[4] = {'V', 'G', 'C', '1'};

void Put(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

bool Get(std::string_view* in, uint64_t* v, int bytes) {
  if (in->size() < static_cast<size_t>(bytes)) return false;
  uint64_t r = 0;
  for (int i = bytes - 1; i >= 0; --i)
    r = (r << 8) | static_cast<uint8_t>((*in)[static_cast<size_t>(i)]);
  in->remove_prefix(static_cast<size_t>(bytes));
  *v = r;
  return true;
}

}  // namespace

alarm::Result<std::optional<CheckpointState>> LoadCheckpoint(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!std::filesystem::exists(file, ec)) return std::optional<CheckpointState>();
    return alarm::Status::IOError("open " + file.string());
  }
  const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return alarm::Status::IOError("read " + file.string());
  std::string_view v(data);
  auto corrupt = [&] { return alarm::Status::Corruption("checkpoint file " + file.string()); };
  if (v.size() < 4) return corrupt();
  const bool v1 = std::memcmp(v.data(), kMagicV1, 4) == 0;
  if (!v1 && std::memcmp(v.data(), kMagic, 4) != 0) return corrupt();
  v.remove_prefix(4);
  CheckpointState state;
  uint64_t count = 0;
  if (!Get(&v, &state.replay_from, 8) || !Get(&v, &state.marks_through, 8)) return corrupt();
  if (!v1) {
    uint64_t clock = 0;
    uint64_t tick = 0;
    if (!Get(&v, &clock, 8) || !Get(&v, &tick, 8)) return corrupt();
    state.clock_ms = static_cast<alarm::TimestampMs>(clock);
    state.last_tick_second = static_cast<int64_t>(tick);
  }
  if (!Get(&v, &count, 8)) return corrupt();
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t len = 0;
    storage::Watermark mark;
    if (!Get(&v, &len, 4) || v.size() < len) return corrupt();
    std::string gateway(v.substr(0, len));
    v.remove_prefix(len);
    if (!Get(&v, &mark.epoch, 8) || !Get(&v, &mark.sequence, 8)) return corrupt();
    state.marks.emplace(std::move(gateway), mark);
  }
  if (!v.empty()) return corrupt();
  return std::optional<CheckpointState>(std::move(state));
}

alarm::Status SaveCheckpoint(const std::filesystem::path& file, const CheckpointState& state) {
  std::string data(kMagic, 4);
  Put(&data, state.replay_from, 8);
  Put(&data, state.marks_through, 8);
  Put(&data, static_cast<uint64_t>(state.clock_ms), 8);
  Put(&data, static_cast<uint64_t>(state.last_tick_second), 8);
  Put(&data, state.marks.size(), 8);
  for (const auto& [gateway, mark] : state.marks) {
    Put(&data, gateway.size(), 4);
    data.append(gateway);
    Put(&data, mark.epoch, 8);
    Put(&data, mark.sequence, 8);
  }
  return storage::WriteFileDurably(file, data);
}

}  // namespace vigil::cluster
