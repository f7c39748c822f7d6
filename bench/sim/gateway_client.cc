#include "bench/sim/gateway_client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cinttypes>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "bench/common/channel.h"
#include "bench/common/cli.h"
#include "vigil/v1/ingest.grpc.pb.h"
#include "vigil/v1/query.grpc.pb.h"
#include "vigil/v1/registry.grpc.pb.h"

namespace vigil::sim {
namespace {

namespace v1 = ::vigil::v1;
using Steady = std::chrono::steady_clock;
using bench::WallNowMs;
using std::chrono::milliseconds;

// Simulated time now: the scenario's start at `wall_start`, then `speed` times
// faster than the wall clock.
TimestampMs SimNow(const Scenario& scenario, TimestampMs wall_start) {
  return scenario.start() + static_cast<int64_t>(static_cast<double>(WallNowMs() - wall_start) *
                                                 scenario.options().speed);
}

int64_t SteadyNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Steady::now().time_since_epoch())
      .count();
}

class Gateway;

// One Ingest.Stream of one gateway: a thin reactor; the decisions are the
// Gateway's, under its mutex. Owned by its Gateway, which keeps every call
// it made until the end of the run (a reactor must outlive OnDone).
class GatewayCall final : public grpc::ClientBidiReactor<v1::IngestBatch, v1::IngestAck> {
 public:
  explicit GatewayCall(Gateway* gateway) : gateway_(gateway) {}

  void Start(v1::Ingest::Stub* stub) {
    stub->async()->Stream(&context_, this);
    StartRead(&ack_);
    AddHold();  // released once the read side has ended and no write is in flight
    StartCall();
  }
  void Cancel() { context_.TryCancel(); }

  void OnWriteDone(bool ok) override;
  void OnWritesDoneDone(bool ok) override;
  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  friend class Gateway;
  enum class Action { kNone, kWrite, kWritesDone, kRelease };
  void Do(Action action) {
    switch (action) {
      case Action::kNone:
        break;
      case Action::kWrite:
        StartWrite(in_write_.get());
        break;
      case Action::kWritesDone:
        StartWritesDone();
        break;
      case Action::kRelease:
        RemoveHold();
        break;
    }
  }

  Gateway* const gateway_;
  grpc::ClientContext context_;
  v1::IngestAck ack_;  // owned by the read in flight
  // Guarded by the gateway's mutex.
  bool writing_ = false;
  bool read_done_ = false;
  bool writes_done_ = false;
  bool released_ = false;
  std::shared_ptr<const v1::IngestBatch> in_write_;
};

// One simulated gateway: its batches, its queue of unacked ones, its streams.
class Gateway {
 public:
  Gateway(const Scenario& scenario, uint32_t enterprise, uint64_t epoch,
          const StreamOptions& options)
      : scenario_(scenario),
        enterprise_(enterprise),
        spec_(scenario.province().enterprises[enterprise]),
        epoch_(epoch),
        options_(options) {}

  // Driver thread: makes the batch of `slice` and queues it.
  void Produce(uint64_t slice) {
    auto batch = std::make_shared<v1::IngestBatch>();
    batch->set_gateway_id(spec_.gateway_id);
    batch->set_epoch(epoch_);
    uint32_t readings = 0;
    for (uint32_t s : spec_.sensors) {
      samples_.clear();
      scenario_.Readings(s, scenario_.SliceStart(slice), scenario_.SliceEnd(slice), &samples_);
      if (samples_.empty()) continue;
      v1::Series* series = batch->add_series();
      series->set_sensor_id(scenario_.province().sensors[s].id);
      for (const Sample& r : samples_) {
        series->add_timestamps_ms(r.t);
        series->add_values(r.value);
      }
      readings += static_cast<uint32_t>(samples_.size());
    }
    std::lock_guard lock(mu_);
    batch->set_sequence(next_sequence_++);
    queue_.push_back(Pending{std::move(batch), readings, false, 0});
    ++result_.batches;
    result_.readings += readings;
    result_.max_unacked = std::max<uint64_t>(result_.max_unacked, queue_.size());
  }

  // Driver thread: cuts the stream at an outage, (re)connects when online,
  // ends the stream once everything is made and acked, and writes.
  void Drive(TimestampMs sim_now, bool all_made) {
    GatewayCall* cancel = nullptr;
    GatewayCall* start = nullptr;
    GatewayCall::Action action = GatewayCall::Action::kNone;
    {
      std::lock_guard lock(mu_);
      // Once the run is stopped, an outage ends at once: the backlog is delivered.
      const bool online = stopped_ || scenario_.GatewayOnline(enterprise_, sim_now);
      all_made_ = all_made;
      if (call_open_) {
        if (!online && !cut_) {
          cut_ = true;
          ++result_.outages;
          cancel = call_;
        }
      } else if (online && Steady::now() >= retry_at_ && !(all_made_ && queue_.empty())) {
        if (cut_ || channel_ == nullptr) {
          channel_ = bench::NewConnection(options_.target);
          stub_ = v1::Ingest::NewStub(channel_);
        }
        if (!calls_.empty()) ++result_.reconnects;
        cut_ = false;
        calls_.push_back(std::make_unique<GatewayCall>(this));
        call_ = calls_.back().get();
        call_open_ = true;
        on_wire_ = 0;  // every unacked batch is written again, in order
        lost_ = 0;
        start = call_;
      }
      if (call_open_ && !cut_ && start == nullptr) action = DecideLocked(call_);
    }
    if (cancel != nullptr) cancel->Cancel();
    if (start != nullptr) {
      start->Start(stub_.get());
      std::lock_guard lock(mu_);
      action = DecideLocked(start);
    }
    if (call_ != nullptr) {
      // Only this thread replaces call_; the call cannot be destroyed before the run ends.
      call_->Do(action);
    }
  }

  // Driver thread: the run was stopped early.
  void Stop() {
    std::lock_guard lock(mu_);
    stopped_ = true;
  }

  bool Done() {
    std::lock_guard lock(mu_);
    return all_made_ && queue_.empty() && !call_open_;
  }
  bool CallOpen() {
    std::lock_guard lock(mu_);
    return call_open_;
  }
  void CancelCall() {
    GatewayCall* call = nullptr;
    {
      std::lock_guard lock(mu_);
      if (call_open_) call = call_;
      cut_ = true;
    }
    if (call != nullptr) call->Cancel();
  }
  uint64_t UnackedBatches() {
    std::lock_guard lock(mu_);
    return queue_.size();
  }
  // REQUIRES: no call open.
  const StreamResult& result() const { return result_; }

  // ---- Called by GatewayCall's reactions.
  void WriteDone(GatewayCall* call, bool ok) {
    GatewayCall::Action action;
    {
      std::lock_guard lock(mu_);
      call->writing_ = false;
      call->in_write_.reset();
      if (!ok) call->writes_done_ = true;  // no more writes on a broken stream
      action = DecideLocked(call);
    }
    call->Do(action);
  }
  void ReadDone(GatewayCall* call, bool ok) {
    if (ok) Acked(call->ack_);
    GatewayCall::Action action;
    {
      std::lock_guard lock(mu_);
      if (!ok) call->read_done_ = true;
      action = DecideLocked(call);
    }
    if (ok) call->StartRead(&call->ack_);
    call->Do(action);
  }
  void CallDone(const grpc::Status& status) {
    std::lock_guard lock(mu_);
    call_open_ = false;
    on_wire_ = 0;
    lost_ = 0;
    if (!status.ok() && !cut_) {
      ++result_.stream_errors;
      if (result_.stream_errors <= 5) {
        std::fprintf(stderr, "vigil-sim: %s: stream ended: %d %s\n", spec_.gateway_id.c_str(),
                     static_cast<int>(status.error_code()), status.error_message().c_str());
      }
      retry_at_ = Steady::now() + backoff_;
      backoff_ = std::min<Steady::duration>(backoff_ * 2, std::chrono::seconds(5));
    }
  }

 private:
  struct Pending {
    std::shared_ptr<v1::IngestBatch> batch;
    uint32_t readings = 0;
    bool written = false;
    int64_t written_ns = 0;
  };

  GatewayCall::Action DecideLocked(GatewayCall* c) {
    using Action = GatewayCall::Action;
    if (c != call_ || c->released_ || c->writing_) return Action::kNone;
    if (c->read_done_) {
      c->released_ = true;
      return Action::kRelease;
    }
    if (c->writes_done_ || cut_) return Action::kNone;
    if (on_wire_ < queue_.size() && on_wire_ - lost_ < options_.window) {
      Pending& u = queue_[on_wire_++];
      if (u.written) ++result_.batches_resent;
      u.written = true;
      u.written_ns = SteadyNs();
      ++result_.batches_written;
      c->writing_ = true;
      c->in_write_ = u.batch;
      return Action::kWrite;
    }
    if (all_made_ && queue_.empty()) {
      c->writes_done_ = true;
      c->writing_ = true;
      return Action::kWritesDone;
    }
    return Action::kNone;
  }

  // Just before an outage the link is already failing: acks are lost on the
  // way, so those batches stay unacked and are resent after the reconnect
  // (the server answers them as duplicates).
  bool AckLost() const {
    const TimestampMs sim_now = SimNow(scenario_, options_.wall_start);
    const int64_t lossy = 3 * scenario_.batch_period().count();
    return scenario_.GatewayOnline(enterprise_, sim_now) &&
           !scenario_.GatewayOnline(enterprise_, sim_now + lossy);
  }

  void Acked(const v1::IngestAck& ack) {
    const int64_t now_ns = SteadyNs();
    const bool lost = AckLost();
    std::lock_guard lock(mu_);
    if (lost_ >= on_wire_) {
      ++result_.ack_mismatches;
      return;
    }
    if (lost) {
      ++lost_;
      ++result_.acks_lost;
      return;
    }
    const Pending& u = queue_[lost_];
    if (ack.epoch() != epoch_ || ack.sequence() != u.batch->sequence()) ++result_.ack_mismatches;
    ++result_.batches_acked;
    result_.readings_stored += ack.stored_readings();
    result_.readings_rejected += ack.rejected_readings();
    if (ack.duplicate()) {
      ++result_.batches_duplicate;
      result_.readings_duplicate += u.readings;
    }
    if (ack.rejected_readings() > 0 && result_.readings_rejected == ack.rejected_readings()) {
      const std::string first = ack.rejections_size() > 0
                                    ? ack.rejections(0).sensor_id() + ": " +
                                          v1::RejectReason_Name(ack.rejections(0).reason()) + ": " +
                                          ack.rejections(0).detail()
                                    : std::string();
      std::fprintf(stderr, "vigil-sim: %s batch %" PRIu64 ": %u readings rejected (%s)\n",
                   spec_.gateway_id.c_str(), ack.sequence(), ack.rejected_readings(),
                   first.c_str());
    }
    result_.ack_latency_us.push_back(
        static_cast<uint32_t>(std::clamp<int64_t>((now_ns - u.written_ns) / 1000, 0, UINT32_MAX)));
    queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(lost_));
    --on_wire_;
    backoff_ = std::chrono::milliseconds(200);
  }

  const Scenario& scenario_;
  const uint32_t enterprise_;
  const EnterpriseSpec& spec_;
  const uint64_t epoch_;
  const StreamOptions& options_;
  std::vector<Sample> samples_;  // driver thread only
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Ingest::Stub> stub_;

  std::mutex mu_;
  // Guarded by mu_; calls_ and call_ are changed by the driver thread only.
  std::deque<Pending> queue_;  // unacked batches, by sequence
  size_t on_wire_ = 0;         // queue_[0, on_wire_) written on the current stream
  size_t lost_ = 0;            // queue_[0, lost_): written, and their acks were lost
  uint64_t next_sequence_ = 1;
  std::vector<std::unique_ptr<GatewayCall>> calls_;
  GatewayCall* call_ = nullptr;
  bool call_open_ = false;
  bool cut_ = false;  // the current stream was cut on purpose (outage) or is being ended
  bool all_made_ = false;
  bool stopped_ = false;
  Steady::time_point retry_at_{};
  Steady::duration backoff_ = std::chrono::milliseconds(200);
  StreamResult result_;
};

void GatewayCall::OnWriteDone(bool ok) { gateway_->WriteDone(this, ok); }
void GatewayCall::OnWritesDoneDone(bool ok) { gateway_->WriteDone(this, ok); }
void GatewayCall::OnReadDone(bool ok) { gateway_->ReadDone(this, ok); }
void GatewayCall::OnDone(const grpc::Status& status) { gateway_->CallDone(status); }

}  // namespace

StreamResult StreamScenario(const Scenario& scenario, const StreamOptions& options) {
  const Province& p = scenario.province();
  const uint64_t epoch = static_cast<uint64_t>(WallNowMs());
  std::vector<std::unique_ptr<Gateway>> gateways;
  for (uint32_t e = 0; e < p.enterprises.size(); ++e) {
    gateways.push_back(std::make_unique<Gateway>(scenario, e, epoch, options));
  }
  if (WallNowMs() < options.wall_start) {
    std::this_thread::sleep_for(milliseconds(options.wall_start - WallNowMs()));
  }
  const Steady::time_point begin = Steady::now();
  Steady::time_point next_progress = begin + options.progress_every;
  Steady::time_point drain_deadline = Steady::time_point::max();
  int64_t lag_max = 0;
  uint64_t next_slice = 0;
  uint64_t slices = scenario.slice_count();
  for (;;) {
    if (options.stop != nullptr && options.stop->load() && slices > next_slice) {
      slices = next_slice;  // make no more
      for (auto& g : gateways) g->Stop();
      std::fprintf(stderr, "vigil-sim: stopping: delivering what was made\n");
    }
    const TimestampMs now = SimNow(scenario, options.wall_start);
    for (; next_slice < slices && scenario.SliceEnd(next_slice) <= now; ++next_slice) {
      lag_max = std::max<int64_t>(lag_max, now - scenario.SliceEnd(next_slice));
      for (auto& g : gateways) g->Produce(next_slice);
    }
    const bool all_made = next_slice == slices;
    bool done = all_made;
    for (auto& g : gateways) {
      g->Drive(now, all_made);
      done = done && g->Done();
    }
    if (done) break;
    if (all_made && drain_deadline == Steady::time_point::max()) {
      drain_deadline = Steady::now() + options.drain_timeout;
    }
    if (Steady::now() >= drain_deadline) {
      std::fprintf(stderr, "vigil-sim: batches still unacked after the drain timeout\n");
      break;
    }
    if (options.progress_every.count() > 0 && Steady::now() >= next_progress) {
      uint64_t unacked = 0;
      for (auto& g : gateways) unacked += g->UnackedBatches();
      std::fprintf(stderr, "vigil-sim: simulated %.1f of %.1f h, %" PRIu64 " batches unacked\n",
                   static_cast<double>(std::min(now, scenario.end()) - scenario.start()) / 3.6e6,
                   static_cast<double>(scenario.end() - scenario.start()) / 3.6e6, unacked);
      next_progress += options.progress_every;
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
  // Every stream must have ended before the gateways (and their reactors) go.
  for (auto& g : gateways) g->CancelCall();
  const Steady::time_point give_up = Steady::now() + std::chrono::seconds(10);
  for (auto& g : gateways) {
    while (g->CallOpen() && Steady::now() < give_up) {
      std::this_thread::sleep_for(milliseconds(5));
    }
    if (g->CallOpen()) {
      std::fprintf(stderr, "vigil-sim: a stream did not end after cancel; giving up\n");
      std::fflush(stdout);
      std::_Exit(1);
    }
  }
  StreamResult total;
  for (auto& g : gateways) {
    const StreamResult& r = g->result();
    total.batches += r.batches;
    total.batches_acked += r.batches_acked;
    total.batches_written += r.batches_written;
    total.batches_resent += r.batches_resent;
    total.batches_duplicate += r.batches_duplicate;
    total.readings += r.readings;
    total.readings_stored += r.readings_stored;
    total.readings_duplicate += r.readings_duplicate;
    total.readings_rejected += r.readings_rejected;
    total.ack_mismatches += r.ack_mismatches;
    total.acks_lost += r.acks_lost;
    total.outages += r.outages;
    total.stream_errors += r.stream_errors;
    total.reconnects += r.reconnects;
    total.max_unacked = std::max(total.max_unacked, r.max_unacked);
    total.ack_latency_us.insert(total.ack_latency_us.end(), r.ack_latency_us.begin(),
                                r.ack_latency_us.end());
  }
  total.sim_lag_max_ms = lag_max;
  total.sim_end = slices == 0 ? scenario.start() : scenario.SliceEnd(slices - 1);
  total.wall_s = std::chrono::duration<double>(Steady::now() - begin).count();
  return total;
}

bool RegisterProvince(const Province& province, const std::string& target, std::string* error) {
  auto stub = v1::RegistryAdmin::NewStub(bench::NewConnection(target));
  constexpr int kMaxSensorsPerCall = 10'000;
  auto apply = [&](const v1::ApplyRegistryRequest& request) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    context.set_wait_for_ready(true);
    v1::ApplyRegistryResponse response;
    const grpc::Status status = stub->ApplyRegistry(&context, request, &response);
    if (!status.ok()) {
      *error = "ApplyRegistry: " + std::to_string(static_cast<int>(status.error_code())) + " " +
               status.error_message();
    }
    return status.ok();
  };
  v1::ApplyRegistryRequest request;
  for (const EnterpriseSpec& e : province.enterprises) {
    v1::Enterprise* out = request.mutable_upsert()->add_enterprises();
    out->set_id(e.id);
    out->set_name(e.name);
    out->set_kind(e.kind == SiteKind::kCoalMine   ? v1::ENTERPRISE_KIND_COAL_MINE
                  : e.kind == SiteKind::kTailings ? v1::ENTERPRISE_KIND_TAILINGS
                                                  : v1::ENTERPRISE_KIND_HAZARDOUS_CHEMICAL);
    out->set_region_code(e.region_code);
    v1::Gateway* gw = request.mutable_upsert()->add_gateways();
    gw->set_id(e.gateway_id);
    gw->set_enterprise_id(e.id);
  }
  if (!apply(request)) return false;
  request.Clear();
  for (const SensorSpec& s : province.sensors) {
    v1::Sensor* out = request.mutable_upsert()->add_sensors();
    out->set_id(s.id);
    out->set_enterprise_id(province.enterprises[s.enterprise].id);
    out->set_quantity(s.quantity);
    out->set_unit(s.unit);
    out->set_range_low(s.range_low);
    out->set_range_high(s.range_high);
    out->set_expected_interval_ms(static_cast<uint32_t>(s.interval.count()));
    if (request.upsert().sensors_size() >= kMaxSensorsPerCall) {
      if (!apply(request)) return false;
      request.Clear();
    }
  }
  return request.upsert().sensors_size() == 0 || apply(request);
}

ReadBackResult ReadBack(const Scenario& scenario, const std::string& target) {
  ReadBackResult result;
  auto stub = v1::Query::NewStub(bench::NewConnection(target));
  const Province& p = scenario.province();
  std::vector<Sample> expected;
  for (uint32_t s = 0; s < p.sensors.size(); ++s) {
    const std::string& id = p.sensors[s].id;
    expected.clear();
    scenario.Readings(s, scenario.start(), scenario.end(), &expected);
    result.readings_expected += expected.size();
    ++result.sensors;
    std::vector<Sample> got;
    std::string problem;
    TimestampMs from = scenario.start();
    for (int page = 0; page < 10'000 && problem.empty(); ++page) {
      v1::ReadRawRequest request;
      request.set_sensor_id(id);
      request.set_from_ms(from);
      request.set_to_ms(scenario.end());
      v1::ReadRawResponse response;
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
      const grpc::Status status = stub->ReadRaw(&context, request, &response);
      if (!status.ok()) {
        problem = "ReadRaw failed: " + status.error_message();
        break;
      }
      for (int i = 0; i < response.timestamps_ms_size() && i < response.values_size(); ++i) {
        got.push_back(Sample{response.timestamps_ms(i), response.values(i)});
      }
      if (!response.truncated()) break;
      if (response.next_from_ms() <= from) problem = "ReadRaw: next_from_ms does not advance";
      from = response.next_from_ms();
    }
    result.readings += got.size();
    if (problem.empty()) {
      if (got.size() != expected.size()) {
        problem =
            std::to_string(got.size()) + " readings, expected " + std::to_string(expected.size());
      } else {
        for (size_t i = 0; i < got.size() && problem.empty(); ++i) {
          if (got[i].t != expected[i].t || got[i].value != expected[i].value) {
            problem = "reading " + std::to_string(i) + " is (" + std::to_string(got[i].t) + ", " +
                      FormatNumber(got[i].value) + "), expected (" + std::to_string(expected[i].t) +
                      ", " + FormatNumber(expected[i].value) + ")";
          }
        }
      }
    }
    if (!problem.empty()) {
      ++result.bad_sensors;
      if (result.problems.size() < 5)
        result.problems.push_back(std::string(id).append(": ").append(problem));
    }
  }
  return result;
}

std::string FormatStreamResult(const StreamResult& r) {
  std::string out;
  auto count = [&](const char* name, uint64_t value, const char* unit) {
    char line[128];
    std::snprintf(line, sizeof(line), "%s %" PRIu64 " %s\n", name, value, unit);
    out += line;
  };
  auto figure = [&](const char* name, double value, const char* unit) {
    char line[128];
    std::snprintf(line, sizeof(line), "%s %.3f %s\n", name, value, unit);
    out += line;
  };
  count("batches", r.batches, "batches");
  count("batches_acked", r.batches_acked, "batches");
  count("batches_written", r.batches_written, "batches");
  count("batches_resent", r.batches_resent, "batches");
  count("batches_duplicate", r.batches_duplicate, "batches");
  count("readings", r.readings, "readings");
  count("readings_stored", r.readings_stored, "readings");
  count("readings_duplicate", r.readings_duplicate, "readings");
  count("readings_rejected", r.readings_rejected, "readings");
  count("ack_mismatches", r.ack_mismatches, "acks");
  count("acks_lost", r.acks_lost, "acks");
  count("outages", r.outages, "streams");
  count("stream_errors", r.stream_errors, "streams");
  count("reconnects", r.reconnects, "streams");
  count("max_unacked", r.max_unacked, "batches");
  count("sim_lag_max_ms", static_cast<uint64_t>(r.sim_lag_max_ms), "ms");
  figure("wall_s", r.wall_s, "s");
  figure("readings_per_s", r.wall_s > 0 ? static_cast<double>(r.readings_stored) / r.wall_s : 0,
         "readings/s");
  std::vector<uint32_t> latency = r.ack_latency_us;
  std::sort(latency.begin(), latency.end());
  figure("ack_latency_p50_ms", bench::Quantile(latency, 0.5) / 1000.0, "ms");
  figure("ack_latency_p99_ms", bench::Quantile(latency, 0.99) / 1000.0, "ms");
  figure("ack_latency_max_ms", bench::Quantile(latency, 1.0) / 1000.0, "ms");
  count("stream_complete", r.complete() ? 1 : 0, "bool");
  return out;
}

}  // namespace vigil::sim
