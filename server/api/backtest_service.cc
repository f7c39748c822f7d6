#include "server/api/backtest_service.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>
#include <utility>

#include "server/api/grpc_status.h"
#include "server/log/log.h"
#include "server/log/thread_name.h"

namespace vigil::server {
namespace {

std::string KindName(alarm::AlarmKind kind) { return std::string(alarm::AlarmKindName(kind)); }

void ToProto(const alarm::BacktestCount& count, v1::BacktestCount* out) {
  out->set_key(count.key);
  out->set_backtest_raised(count.backtest);
  out->set_live_raised(count.live);
}

void ToProto(const alarm::BacktestPoint& point, v1::BacktestPoint* out) {
  out->set_source_id(point.source_id);
  out->set_alarm_kind(KindName(point.alarm));
  out->set_rule_id(point.rule_id);
  out->set_backtest_raised(point.backtest_raised);
  out->set_live_raised(point.live_raised);
  out->set_backtest_max_per_minute(point.backtest_chatter);
  out->set_live_max_per_minute(point.live_chatter);
}

void ToProto(const alarm::BacktestAlarm& alarm, v1::BacktestAlarm* out) {
  out->set_source_id(alarm.source_id);
  out->set_alarm_kind(KindName(alarm.alarm));
  out->set_rule_id(alarm.rule_id);
  out->set_level(std::string(alarm::LevelName(alarm.level)));
  out->set_severity(static_cast<uint32_t>(alarm.severity));
  out->set_raised_at_ms(alarm.raised_at);
  out->set_cleared_at_ms(alarm.cleared_at);
  out->set_alarm_id(alarm.alarm_id);
}

void ToProto(const BacktestOutcome& outcome, v1::BacktestReport* out) {
  const alarm::BacktestReport& r = outcome.report;
  out->set_sensors(outcome.replay.sensors);
  out->set_readings(outcome.replay.readings);
  out->set_actions_applied(outcome.replay.actions_applied);
  out->set_actions_skipped(outcome.replay.actions_skipped);
  out->set_page_readings(outcome.page_readings);
  out->set_max_buffered_readings(outcome.replay.max_buffered_readings);
  out->set_elapsed_ms(outcome.elapsed_ms);
  out->set_engine_sensors(outcome.replay.engine_sensors);
  out->set_engine_state_bytes(outcome.replay.engine_state_bytes);
  out->set_backtest_raised(r.backtest_raised);
  out->set_live_raised(r.live_raised);
  out->set_transitions_matched(r.matched);
  out->set_transitions_matched_by_clock(r.matched_by_clock);
  out->set_transitions_only_backtest(r.only_backtest);
  out->set_transitions_only_live(r.only_live);
  out->set_max_at_offset_ms(r.max_at_offset_ms);
  for (const auto& c : r.per_rule) ToProto(c, out->add_per_rule());
  for (const auto& c : r.per_sensor) ToProto(c, out->add_per_sensor());
  for (const auto& p : r.chattering) ToProto(p, out->add_chattering());
  for (const auto& p : r.bad_actors) ToProto(p, out->add_bad_actors());
  for (const auto& f : r.floods) {
    v1::BacktestFlood* flood = out->add_floods();
    flood->set_live(f.live);
    flood->set_start_ms(f.start);
    flood->set_end_ms(f.end);
    flood->set_raised(f.raised);
    flood->set_peak_per_10min(f.peak);
  }
  out->set_missed_total(r.missed_total);
  for (const auto& a : r.missed) ToProto(a, out->add_missed());
  out->set_added_total(r.added_total);
  for (const auto& a : r.added) ToProto(a, out->add_added());
  for (const auto& d : r.differences) {
    v1::BacktestTransition* t = out->add_differences();
    t->set_live(d.live);
    t->set_source_id(d.transition.source_id);
    t->set_alarm_kind(KindName(d.transition.alarm));
    t->set_rule_id(d.transition.rule_id);
    t->set_event(std::string(alarm::EventKindName(d.transition.event)));
    t->set_level(std::string(alarm::LevelName(d.transition.level)));
    t->set_severity(static_cast<uint32_t>(d.transition.severity));
    t->set_at_ms(d.transition.at);
    t->set_reading_at_ms(d.transition.reading_at);
    t->set_value(d.transition.value);
  }
  for (const std::string& c : outcome.caveats) out->add_caveats(c);
}

}  // namespace

BacktestService::BacktestService(const AccessControl* access, const RegistryHolder* registry,
                                 storage::ChunkStore* chunks, storage::JournalStore* journal,
                                 ShardSet* shards)
    : access_(access), registry_(registry), desk_(chunks, journal, shards) {}

BacktestService::~BacktestService() { Stop(); }

void BacktestService::Stop() {
  std::thread thread;
  {
    storage::MutexLock lock(&mu_);
    stopping_.store(true, std::memory_order_release);
    thread = std::move(thread_);
  }
  if (thread.joinable()) thread.join();
}

grpc::ServerUnaryReactor* BacktestService::Run(grpc::CallbackServerContext* context,
                                               const v1::BacktestRequest* request,
                                               v1::BacktestReport* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto caller = access_->Require(*context, Role::kAdmin, "backtest rules");
  if (!caller) {
    reactor->Finish(ToGrpc(caller.error()));
    return reactor;
  }
  BacktestQuery query{.rules_yaml = request->rules_yaml(),
                      .from = request->from_ms(),
                      .to = request->to_ms(),
                      .region_prefix = request->region_prefix(),
                      .warmup_ms = request->warmup_ms(),
                      .top = request->top(),
                      .page_readings = request->page_readings()};
  // A regional admin backtests within its region only.
  if (query.region_prefix.empty()) query.region_prefix = caller->region_prefix;
  if (!caller->Covers(query.region_prefix)) {
    reactor->Finish(ToGrpc(access_->Deny("region '" + alarm::Echo(query.region_prefix) +
                                         "' is outside the region '" + caller->region_prefix +
                                         "' of '" + caller->name + "'")));
    return reactor;
  }
  if (stopping_.load(std::memory_order_acquire)) {
    reactor->Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the server is stopping"));
    return reactor;
  }
  if (running_.exchange(true, std::memory_order_acq_rel)) {
    reactor->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                 "a backtest is running; one runs at a time"));
    return reactor;
  }
  storage::MutexLock lock(&mu_);
  if (stopping_.load(std::memory_order_acquire)) {  // Stop() came in between
    running_.store(false, std::memory_order_release);
    reactor->Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the server is stopping"));
    return reactor;
  }
  // The previous backtest's thread has finished its work (running_ was
  // false): joining it costs nothing.
  if (thread_.joinable()) thread_.join();
  thread_ =
      std::thread([this, context, reactor, response, query = std::move(query), who = caller->name] {
        NameThisThread("vigil-backtest");
        // Nice 10: on a busy machine the writer, shards and journal get the CPU
        // first; the backtest takes what is left. (Linux: per thread.)
        (void)setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 10);
        auto stop = [this, context] {
          return stopping_.load(std::memory_order_acquire) || context->IsCancelled();
        };
        auto outcome = desk_.Run(query, registry_->Get(), stop);
        grpc::Status status;
        if (!outcome) {
          status = outcome.error().code() == alarm::Status::Code::kAborted
                       ? grpc::Status(grpc::StatusCode::CANCELLED, outcome.error().message())
                       : ToGrpc(outcome.error());
          LogInfo("rules_backtest_failed", {{"by", who}, {"error", outcome.error().ToString()}});
        } else {
          ToProto(*outcome, response);
          LogInfo("rules_backtest", {{"by", who},
                                     {"from", query.from},
                                     {"to", query.to},
                                     {"region", query.region_prefix},
                                     {"readings", outcome->replay.readings},
                                     {"backtest_raised", outcome->report.backtest_raised},
                                     {"live_raised", outcome->report.live_raised},
                                     {"ms", outcome->elapsed_ms}});
        }
        running_.store(false, std::memory_order_release);
        reactor->Finish(status);
      });
  return reactor;
}

}  // namespace vigil::server
