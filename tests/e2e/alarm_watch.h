// End-to-end test helper: a vigil.v1.Alarms/Subscribe stream read on its own
// thread, keeping every message, with bounded waits. Shared by the e2e tests.
#pragma once

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "vigil/v1/alarms.grpc.pb.h"

namespace vigil::e2e {

using namespace std::chrono_literals;

// Adds `authorization: Bearer <token>` unless token is null.
inline void Authorize(grpc::ClientContext* context, const char* token) {
  if (token != nullptr) context->AddMetadata("authorization", std::string("Bearer ") + token);
}

// A Subscribe stream read on its own thread; every message is kept.
class Watch {
 public:
  Watch(v1::Alarms::Stub& stub, const char* token, v1::AlarmFilter filter = {},
        std::optional<uint64_t> after = std::nullopt) {
    Authorize(&context_, token);
    v1::SubscribeRequest request;
    *request.mutable_filter() = std::move(filter);
    if (after) request.set_after_seq(*after);
    reader_ = stub.Subscribe(&context_, request);
    thread_ = std::thread([this] {
      v1::AlarmStreamMessage message;
      while (reader_->Read(&message)) {
        std::lock_guard<std::mutex> lock(mu_);
        messages_.push_back(message);
      }
      std::lock_guard<std::mutex> lock(mu_);
      status_ = reader_->Finish();
      done_ = true;
    });
  }
  ~Watch() { Stop(); }

  void Stop() {
    if (!thread_.joinable()) return;
    context_.TryCancel();
    thread_.join();
  }

  std::vector<v1::AlarmEvent> Events() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<v1::AlarmEvent> events;
    for (const auto& m : messages_) {
      if (m.has_event()) events.push_back(m.event());
    }
    return events;
  }
  std::vector<v1::AlarmStreamMessage> Messages() const {
    std::lock_guard<std::mutex> lock(mu_);
    return messages_;
  }
  // Highest seq this stream vouched for (events and heartbeats).
  uint64_t Cursor() const {
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t cursor = 0;
    for (const auto& m : messages_) {
      if (m.has_event()) cursor = std::max(cursor, m.event().seq());
      if (m.has_heartbeat()) cursor = std::max(cursor, m.heartbeat().seq());
      if (m.has_snapshot()) cursor = std::max(cursor, m.snapshot().seq());
    }
    return cursor;
  }
  bool done() const {
    std::lock_guard<std::mutex> lock(mu_);
    return done_;
  }
  grpc::Status status() const {
    std::lock_guard<std::mutex> lock(mu_);
    return status_;
  }

  // Waits (bounded) until `pred(events)` holds.
  template <class Pred>
  bool WaitFor(Pred pred, std::chrono::milliseconds timeout = 15s) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (pred(Events())) return true;
      if (done()) return pred(Events());
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }
  // Waits (bounded) for the first message, so later events are not in it.
  bool WaitStarted(std::chrono::milliseconds timeout = 15s) const {
    return WaitFor([this](const auto&) { return !Messages().empty(); }, timeout);
  }
  bool WaitForEvents(size_t n, std::chrono::milliseconds timeout = 15s) const {
    return WaitFor([n](const auto& events) { return events.size() >= n; }, timeout);
  }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<v1::AlarmStreamMessage>> reader_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<v1::AlarmStreamMessage> messages_;
  grpc::Status status_;
  bool done_ = false;
};

// Every journaled event matching `filter`, read from seq 0 until the stream
// falls idle (its first heartbeat: run vigild with a short
// alarms.heartbeat_interval). Bounded by `timeout`; `*status` is set when the
// stream failed before the heartbeat.
inline std::vector<v1::AlarmEvent> ReadJournal(v1::Alarms::Stub& stub, const char* token,
                                               grpc::Status* status, v1::AlarmFilter filter = {},
                                               std::chrono::milliseconds timeout = 20s) {
  std::vector<v1::AlarmEvent> events;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  Authorize(&context, token);
  v1::SubscribeRequest request;
  *request.mutable_filter() = std::move(filter);
  request.set_after_seq(0);
  auto reader = stub.Subscribe(&context, request);
  v1::AlarmStreamMessage message;
  bool idle = false;
  while (reader->Read(&message)) {
    if (message.has_event()) events.push_back(message.event());
    if (message.has_heartbeat()) {
      idle = true;
      break;
    }
  }
  context.TryCancel();
  grpc::Status finished = reader->Finish();
  *status = idle ? grpc::Status::OK : finished;
  return events;
}

}  // namespace vigil::e2e
