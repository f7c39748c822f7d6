#include "cluster/jetstream_ingest_log.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <deque>
#include <random>
#include <thread>
#include <vector>

#include "cluster/checkpoint_file.h"
#include "cluster/group_message.h"
#include "cluster/nats_client.h"
#include "storage/mutex.h"

namespace vigil::cluster {
namespace {

using alarm::Result;
using alarm::Status;
using Clock = std::chrono::steady_clock;

constexpr char kCheckpointFileName[] = "ingest_log.checkpoint";
// Messages per pull request while replaying.
constexpr int kFetchBatch = 256;
// Longest wait for one pull request's messages while replaying.
constexpr int64_t kFetchTimeoutMs = 5000;
// Longest time spent trying to create a replay or follow consumer, and the
// wait for one attempt's answer. Right after a node is lost an ephemeral
// consumer may be placed on it and never answer: many short attempts find a
// live placement sooner than a few long ones (seen: 4 attempts of 5 s all
// timing out under load).
constexpr auto kConsumerCreateWait = std::chrono::seconds(30);
constexpr int64_t kConsumerCreateAttemptMs = 2000;
// Longest time Open spends finding or creating the stream.
constexpr auto kStreamCreateWait = std::chrono::seconds(30);
// Extra time the watchdog gives the client's own MaxWait timer before it
// fails a group itself (a backstop: the client normally reports the timeout).
constexpr auto kWatchdogGrace = std::chrono::milliseconds(1000);
constexpr auto kWatchdogPeriod = std::chrono::milliseconds(50);

struct StreamInfoDeleter {
  void operator()(jsStreamInfo* si) const { jsStreamInfo_Destroy(si); }
};
using StreamInfo = std::unique_ptr<jsStreamInfo, StreamInfoDeleter>;

Status JsError(natsStatus s, jsErrCode code, std::string_view what) {
  Status st = NatsError(s, what);
  if (code == 0) return st;
  std::string text = st.message() + " [jetstream error " + std::to_string(code) + "]";
  if (code == JSInsufficientResourcesErr || code == JSStorageResourcesExceededErr ||
      code == JSMemoryResourcesExceededErr) {
    return Status::ResourceExhausted(std::move(text));
  }
  if (code == JSStreamNotFoundErr || code == JSClusterNoPeersErr || code == JSStreamOfflineErr) {
    return Status::Unavailable(std::move(text));
  }
  return Status::IOError(std::move(text));
}

}  // namespace

class JetStreamIngestLog::Impl {
 public:
  explicit Impl(JetStreamLogOptions options)
      : options_(std::move(options)),
        subject_(options_.subject_prefix + "." + std::to_string(options_.partition)),
        checkpoint_file_(options_.state_dir / kCheckpointFileName),
        nonce_(std::random_device{}() ^ (static_cast<uint64_t>(std::random_device{}()) << 32)) {}

  ~Impl() {
    {
      storage::MutexLock lock(&mu_);
      closing_ = true;
      watchdog_cv_.NotifyAll();
    }
    if (watchdog_.joinable()) watchdog_.join();
    if (js_ && published_.load(std::memory_order_acquire)) {
      // (Only once something was published: libnats 3.4.1 dereferences its
      // pending map, created by the first asynchronous publish.) Takes the unacknowledged messages
      // back from the client: no acknowledgement or timeout callback runs for them afterwards.
      natsMsgList pending{};
      if (js_PublishAsyncGetPendingList(&pending, js_.get()) == NATS_OK) {
        natsMsgList_Destroy(&pending);
      }
    }
    {
      storage::MutexLock lock(&mu_);
      for (auto& e : in_flight_) {
        if (!e->finished) Finish(e.get(), Status::Unavailable("jetstream ingest log closed"));
      }
    }
    Drain();
    {
      storage::MutexLock lock(&mu_);
      while (callbacks_running_ > 0) callbacks_cv_.Wait(&mu_);
    }
    js_.reset();
    client_.reset();
  }

  Status Open() {
    std::error_code ec;
    std::filesystem::create_directories(options_.state_dir, ec);
    if (ec) return Status::IOError("create " + options_.state_dir.string() + ": " + ec.message());
    auto client = NatsClient::Connect(options_.nats);
    if (!client) return client.error();
    client_ = std::move(*client);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = options_.append_timeout.count();
    jo.PublishAsync.MaxPending = static_cast<int64_t>(options_.max_in_flight) + 16;
    jo.PublishAsync.AckHandler = &Impl::OnAck;
    jo.PublishAsync.AckHandlerClosure = this;
    auto js = client_->JetStream(&jo);
    if (!js) return js.error();
    js_ = std::move(*js);

    Status s = EnsureStream();
    if (!s.ok()) return s;

    auto checkpoint = LoadCheckpoint(checkpoint_file_);
    if (!checkpoint) return checkpoint.error();
    uint64_t marks_through = 0;
    if (*checkpoint) {
      const CheckpointState& c = **checkpoint;
      opened_state_ = storage::AppliedState{.replay_from = c.replay_from,
                                            .marks_through = c.marks_through,
                                            .marks = c.marks,
                                            .clock_ms = c.clock_ms,
                                            .last_tick_second = c.last_tick_second};
      storage::MutexLock lock(&mu_);
      replay_from_ = c.replay_from;
      marks_ = c.marks;
      marks_through = c.marks_through;
    }
    return CatchUp(marks_through);
  }

  // --- IngestLog ---

  void Append(std::span<const storage::LogAppend> group, AppendDone done) {
    // The entry and its message are complete before the entry is shared:
    // from then on other threads read it, and may complete and free it.
    auto entry = std::make_unique<InFlight>();
    entry->done = std::move(done);
    Status invalid;
    natsMsg* msg = nullptr;
    if (group.empty() || group.size() > kMaxGroupEntries) {
      invalid = Status::InvalidArgument("ingest group of " + std::to_string(group.size()) +
                                        " entries (1.." + std::to_string(kMaxGroupEntries) + ")");
    } else {
      for (const storage::LogAppend& a : group) {
        if (!a.gateway_id.empty()) {
          entry->marks.emplace_back(std::string(a.gateway_id), a.watermark);
        }
      }
      entry->msg_id = GroupMessageId(group, nonce_, ++counter_);
      EncodeGroup(group, &body_);
      const int64_t max_payload = natsConnection_GetMaxPayload(client_->connection());
      if (max_payload > 0 && static_cast<int64_t>(body_.size()) > max_payload) {
        invalid = Status::InvalidArgument("ingest group of " + std::to_string(body_.size()) +
                                          " bytes exceeds the NATS server's max_payload of " +
                                          std::to_string(max_payload));
      } else {
        natsStatus s = natsMsg_Create(&msg, subject_.c_str(), nullptr, body_.data(),
                                      static_cast<int>(body_.size()));
        if (s == NATS_OK) s = natsMsgHeader_Set(msg, "Nats-Msg-Id", entry->msg_id.c_str());
        if (s != NATS_OK) invalid = NatsError(s, "jetstream message");
      }
    }
    InFlight* e = entry.get();
    Status refused = invalid;
    {
      storage::MutexLock lock(&mu_);
      const auto room_deadline = Clock::now() + options_.append_timeout;
      while (refused.ok() && failed_.ok() && in_flight_.size() >= options_.max_in_flight &&
             Clock::now() < room_deadline) {
        room_cv_.WaitUntil(&mu_, room_deadline);
      }
      if (refused.ok() && !failed_.ok()) {
        refused = Status::Unavailable("jetstream ingest log failed earlier (Resume first): " +
                                      failed_.message());
      } else if (refused.ok() && in_flight_.size() >= options_.max_in_flight) {
        refused = Status::Unavailable("jetstream ingest log: no room in flight within " +
                                      std::to_string(options_.append_timeout.count()) + " ms");
      }
      e->deadline = Clock::now() + options_.append_timeout + kWatchdogGrace;
      in_flight_.push_back(std::move(entry));
      if (!refused.ok()) Finish(e, refused);
    }
    if (!refused.ok()) {
      natsMsg_Destroy(msg);
      Drain();
      return;
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = options_.append_timeout.count();
    po.ExpectStream = options_.stream.c_str();
    const natsStatus s = js_PublishMsgAsync(js_.get(), &msg, &po);
    published_.store(true, std::memory_order_release);
    natsMsg_Destroy(msg);  // no-op once the client took it
    if (s != NATS_OK) {
      Status error = NatsError(s, "jetstream publish");
      {
        storage::MutexLock lock(&mu_);
        // Still there unless the watchdog completed it meanwhile.
        for (auto& f : in_flight_) {
          if (f.get() != e) continue;
          if (!f->finished) Finish(e, std::move(error));
          break;
        }
      }
      Drain();
    }
  }

  uint64_t end_position() const { return end_.load(std::memory_order_acquire); }

  uint64_t replay_from() const {
    storage::MutexLock lock(&mu_);
    return replay_from_;
  }

  Status Replay(uint64_t from,
                const std::function<Status(uint64_t, const storage::LogEntry&)>& visit) {
    std::vector<uint64_t> aligned;  // the payload, 8-byte aligned
    return Scan(from, [&](uint64_t position, const GroupEntry& g) {
      aligned.resize((g.record.size() + 7) / 8);
      if (!g.record.empty()) std::memcpy(aligned.data(), g.record.data(), g.record.size());
      storage::LogEntry entry{.kind = g.kind,
                              .stored_at = g.stored_at,
                              .payload = std::string_view(
                                  reinterpret_cast<const char*>(aligned.data()), g.record.size())};
      return visit(position, entry);
    });
  }

  Status Checkpoint(uint64_t replay_from) {
    CheckpointState state;
    {
      storage::MutexLock lock(&mu_);
      if (replay_from <= replay_from_) return Status::Ok();
      state.replay_from = replay_from;
      state.marks_through = acked_end_;
      state.marks = marks_;
    }
    // One caller (the control thread): no other Checkpoint writes meanwhile.
    Status s = SaveCheckpoint(checkpoint_file_, state);
    if (!s.ok()) return s;
    storage::MutexLock lock(&mu_);
    replay_from_ = replay_from;
    return Status::Ok();
  }

  std::unordered_map<std::string, storage::Watermark> LoadWatermarks() const {
    storage::MutexLock lock(&mu_);
    return marks_;
  }

  std::optional<storage::Watermark> LoadWatermark(std::string_view gateway_id) const {
    storage::MutexLock lock(&mu_);
    auto it = marks_.find(std::string(gateway_id));
    if (it == marks_.end()) return std::nullopt;
    return it->second;
  }

  Status Resume() {
    if (!client_->connected()) {
      return Status::Unavailable("nats connection is " + client_->state());
    }
    uint64_t from = 0;
    {
      storage::MutexLock lock(&mu_);
      if (failed_.ok()) return Status::Ok();
      if (!in_flight_.empty()) {
        return Status::Unavailable("jetstream ingest log: " + std::to_string(in_flight_.size()) +
                                   " groups still in flight");
      }
      from = acked_end_;
    }
    // A stream leader that has not yet noticed it lost its quorum still
    // answers stream info; only a stored message proves appends can go on.
    // The probe goes to "<prefix>.probe", outside every partition's subject.
    Status s = Probe();
    if (!s.ok()) return s;
    s = CatchUp(from);
    if (!s.ok()) return s;
    storage::MutexLock lock(&mu_);
    failed_ = Status::Ok();
    return Status::Ok();
  }

  // --- SharedIngestLog ---

  const std::optional<storage::AppliedState>& applied_state_at_open() const {
    return opened_state_;
  }

  Status CheckpointApplied(const storage::AppliedState& applied) {
    if (applied.marks_through > applied.replay_from) {
      return Status::InvalidArgument("applied checkpoint: marks_through " +
                                     std::to_string(applied.marks_through) + " past replay_from " +
                                     std::to_string(applied.replay_from));
    }
    CheckpointState state{.replay_from = applied.replay_from,
                          .marks_through = applied.marks_through,
                          .marks = applied.marks,
                          .clock_ms = applied.clock_ms,
                          .last_tick_second = applied.last_tick_second};
    Status s = SaveCheckpoint(checkpoint_file_, state);
    if (!s.ok()) return s;
    storage::MutexLock lock(&mu_);
    replay_from_ = std::max(replay_from_, applied.replay_from);
    return Status::Ok();
  }

  bool connected() const { return client_->connected(); }
  uint64_t reconnects() const { return client_->reconnects(); }

  Result<uint64_t> LastStored() {
    auto info = GetStreamInfo();
    if (!info) return info.error();
    const uint64_t last = (*info)->State.LastSeq;
    return last == 0 ? uint64_t{0} : PositionOf(last, 0);
  }

  Status Follow(uint64_t from, std::chrono::milliseconds poll,
                const std::function<Status(const storage::SharedLogEntry&)>& visit,
                const std::function<bool(uint64_t, bool)>& keep_going) {
    const uint64_t start_seq = std::max<uint64_t>(1, StreamSeqOf(from));
    auto info = GetStreamInfo();
    if (!info) return info.error();
    if ((*info)->State.FirstSeq > start_seq) {
      // Retention (max_age, max_bytes) dropped entries this node has not
      // applied: following on would serve state with a hole in it.
      return Status::OutOfRange(
          "stream " + options_.stream + " starts at seq " +
          std::to_string((*info)->State.FirstSeq) + " but this node has applied only up to seq " +
          std::to_string(start_seq - 1) + ": restore its data folder from a peer's backup");
    }
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = kConsumerCreateAttemptMs;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = options_.stream.c_str();
    // An ordered consumer: the client re-creates it from the last sequence
    // it delivered when it notices a gap, a lost heartbeat or a new leader.
    so.Ordered = true;
    so.Config.DeliverPolicy = js_DeliverByStartSequence;
    so.Config.OptStartSeq = start_seq;
    const std::string wildcard = options_.subject_prefix + ".>";
    const std::string probe_subject = options_.subject_prefix + ".probe";
    natsSubscription* sub = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus ns = NATS_OK;
    const auto deadline = Clock::now() + kConsumerCreateWait;
    for (;;) {
      code = static_cast<jsErrCode>(0);
      ns = js_SubscribeSync(&sub, js_.get(), wildcard.c_str(), &jo, &so, &code);
      if (ns == NATS_OK || Clock::now() >= deadline || !keep_going(0, true)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    if (ns != NATS_OK) return JsError(ns, code, "follow consumer on " + wildcard);
    struct SubCloser {
      natsSubscription* sub;
      ~SubCloser() {
        natsSubscription_Unsubscribe(sub);
        natsSubscription_Destroy(sub);
      }
    } closer{sub};
    // Flow control paces the server; the client-side limit only guards memory.
    (void)natsSubscription_SetPendingLimits(sub, -1, 256 << 20);

    std::vector<uint64_t> aligned;  // the payload, 8-byte aligned
    uint64_t last = 0;
    // Retention drops messages from the stream's front only: a follower that
    // falls behind it sees a sequence jump (the ordered consumer restarts at
    // the first message left).
    uint64_t expected_seq = start_seq;
    const int64_t poll_ms = std::max<int64_t>(1, poll.count());
    for (;;) {
      natsMsg* m = nullptr;
      ns = natsSubscription_NextMsg(&m, sub, poll_ms);
      if (ns == NATS_TIMEOUT) {
        if (!keep_going(last, true)) return Status::Ok();
        continue;
      }
      if (ns != NATS_OK) {
        if (ns == NATS_SLOW_CONSUMER) continue;  // the ordered consumer resets itself
        return NatsError(ns, "follow " + wildcard);
      }
      struct MsgCloser {
        natsMsg* m;
        ~MsgCloser() { natsMsg_Destroy(m); }
      } msg_closer{m};
      jsMsgMetaData* meta = nullptr;
      ns = natsMsg_GetMetaData(&meta, m);
      if (ns != NATS_OK) return NatsError(ns, "follow message metadata");
      const uint64_t seq = meta->Sequence.Stream;
      const auto pending = static_cast<uint64_t>(meta->NumPending);
      jsMsgMetaData_Destroy(meta);
      if (seq < expected_seq) continue;  // already visited (a consumer restarted behind)
      if (seq > expected_seq) {
        return Status::OutOfRange("stream " + options_.stream + " jumped from seq " +
                                  std::to_string(expected_seq) + " to " + std::to_string(seq) +
                                  ": retention dropped entries this node has not applied; "
                                  "restore its data folder from a peer's backup");
      }
      expected_seq = seq + 1;
      last = PositionOf(seq, 0);
      const char* subject = natsMsg_GetSubject(m);
      if (subject == nullptr || probe_subject != subject) {
        const char* id = nullptr;
        if (natsMsgHeader_Get(m, "Nats-Msg-Id", &id) != NATS_OK) id = nullptr;
        const bool here = id != nullptr && std::string_view(id).starts_with(control_id_prefix_);
        const std::string_view body(natsMsg_GetData(m),
                                    static_cast<size_t>(natsMsg_GetDataLength(m)));
        Status s = DecodeGroup(body, [&](uint32_t index, const GroupEntry& g) {
          const uint64_t position = PositionOf(seq, index);
          last = position;
          if (position < from) return Status::Ok();
          aligned.resize((g.record.size() + 7) / 8);
          if (!g.record.empty()) std::memcpy(aligned.data(), g.record.data(), g.record.size());
          storage::SharedLogEntry e;
          e.position = position;
          e.entry = storage::LogEntry{
              .kind = g.kind,
              .stored_at = g.stored_at,
              .payload =
                  std::string_view(reinterpret_cast<const char*>(aligned.data()), g.record.size())};
          e.gateway_id = g.gateway_id;
          e.watermark = g.watermark;
          e.published_here = here;
          e.pending = pending;
          return visit(e);
        });
        if (!s.ok()) {
          if (s.code() == Status::Code::kCorruption) {
            s = Status::Corruption("stream " + options_.stream + " seq " + std::to_string(seq) +
                                   ": " + s.message());
          }
          return s;
        }
      }
      if (!keep_going(last, false)) return Status::Ok();
    }
  }

  void StartWatchdog() {
    watchdog_ = std::thread([this] { WatchdogLoop(); });
  }

  const std::string& subject() const { return subject_; }
  uint64_t duplicates() const { return duplicates_.load(std::memory_order_relaxed); }

 private:
  // One group published and not yet completed.
  struct InFlight {
    std::string msg_id;
    AppendDone done;
    std::vector<std::pair<std::string, storage::Watermark>> marks;
    Clock::time_point deadline;
    bool finished = false;
    Status error;             // when finished and failed
    uint64_t stream_seq = 0;  // when finished and stored
    bool duplicate = false;
  };

  // The client's acknowledgement (or its error, or its MaxWait timeout) of
  // one asynchronous publish, on a client thread.
  static void OnAck(jsCtx* /*js*/, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
    auto* self = static_cast<Impl*>(closure);
    const char* id = nullptr;
    if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) != NATS_OK) id = nullptr;
    {
      storage::MutexLock lock(&self->mu_);
      if (self->closing_ || id == nullptr) {
        natsMsg_Destroy(msg);
        return;
      }
      ++self->callbacks_running_;
      // The oldest unfinished group with this id (a retry of a group has the
      // same id; acknowledgements of one id come back in publish order).
      for (auto& e : self->in_flight_) {
        if (e->finished || e->msg_id != id) continue;
        if (pa != nullptr) {
          e->finished = true;
          e->stream_seq = pa->Sequence;
          e->duplicate = pa->Duplicate;
        } else if (pae != nullptr) {
          self->Finish(e.get(), JsError(pae->Err, pae->ErrCode,
                                        std::string("jetstream publish ") +
                                            (pae->ErrText != nullptr ? pae->ErrText : "")));
        }
        break;
      }
    }
    natsMsg_Destroy(msg);
    self->Drain();
    storage::MutexLock lock(&self->mu_);
    --self->callbacks_running_;
    self->callbacks_cv_.NotifyAll();
  }

  void Finish(InFlight* e, Status error) VIGIL_REQUIRES(mu_) {
    e->finished = true;
    e->error = std::move(error);
  }

  // Completes finished groups from the oldest, in order, one `done` at a
  // time: whichever thread finds the head finished runs the completions while
  // the others only record theirs.
  void Drain() {
    mu_.Lock();
    if (draining_) {
      mu_.Unlock();
      return;
    }
    draining_ = true;
    while (!in_flight_.empty() && in_flight_.front()->finished) {
      std::unique_ptr<InFlight> e = std::move(in_flight_.front());
      in_flight_.pop_front();
      room_cv_.NotifyAll();
      std::optional<Result<uint64_t>> result;
      if (e->error.ok()) {
        const uint64_t first = PositionOf(e->stream_seq, 0);
        for (auto& [gateway, mark] : e->marks) {
          storage::Watermark& m = marks_[gateway];
          m = std::max(m, mark);
        }
        const uint64_t next = PositionOf(e->stream_seq + 1, 0);
        acked_end_ = std::max(acked_end_, next);
        uint64_t end = end_.load(std::memory_order_relaxed);
        while (end < next && !end_.compare_exchange_weak(end, next)) {
        }
        if (e->duplicate) duplicates_.fetch_add(1, std::memory_order_relaxed);
        result.emplace(first);
      } else {
        // A group refused for what it is (kInvalidArgument: empty, too
        // large) says nothing about the stream; anything else fails the log
        // until Resume, as a RocksDB background error does.
        if (failed_.ok() && e->error.code() != Status::Code::kInvalidArgument) failed_ = e->error;
        result.emplace(e->error);
      }
      mu_.Unlock();
      e->done(std::move(*result));
      mu_.Lock();
    }
    draining_ = false;
    mu_.Unlock();
  }

  void WatchdogLoop() {
    storage::MutexLock lock(&mu_);
    while (!closing_) {
      watchdog_cv_.WaitFor(&mu_, kWatchdogPeriod);
      const auto now = Clock::now();
      bool expired = false;
      for (auto& e : in_flight_) {
        if (e->finished || e->msg_id.empty() || now < e->deadline) continue;
        Finish(e.get(),
               Status::Unavailable("jetstream: no publish acknowledgement within " +
                                   std::to_string(options_.append_timeout.count()) + " ms"));
        expired = true;
      }
      if (expired) {
        mu_.Unlock();
        Drain();
        mu_.Lock();
      }
    }
  }

  // Publishes an empty message and waits for its acknowledgement (at most
  // append_timeout): ok when the stream stores messages again.
  Status Probe() {
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = options_.append_timeout.count();
    po.ExpectStream = options_.stream.c_str();
    jsPubAck* ack = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    const std::string subject = options_.subject_prefix + ".probe";
    natsStatus s = js_Publish(&ack, js_.get(), subject.c_str(), nullptr, 0, &po, &code);
    jsPubAck_Destroy(ack);
    if (s != NATS_OK) return JsError(s, code, "jetstream probe publish");
    return Status::Ok();
  }

  Result<StreamInfo> GetStreamInfo() {
    jsStreamInfo* si = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus s = js_GetStreamInfo(&si, js_.get(), options_.stream.c_str(), nullptr, &code);
    if (s != NATS_OK) return JsError(s, code, "stream info " + options_.stream);
    return StreamInfo(si);
  }

  // Creates the stream when missing. A cluster just started may have no
  // JetStream meta leader yet, and several nodes may create the stream at
  // once: retries for kStreamCreateWait (seen: a fresh 3-node cluster took
  // longer than 2 s to answer).
  Status EnsureStream() {
    const auto deadline =
        Clock::now() + std::max<Clock::duration>(options_.append_timeout, kStreamCreateWait);
    Status last;
    do {
      jsStreamInfo* si = nullptr;
      jsErrCode code = static_cast<jsErrCode>(0);
      natsStatus s = js_GetStreamInfo(&si, js_.get(), options_.stream.c_str(), nullptr, &code);
      if (s == NATS_OK) {
        jsStreamInfo_Destroy(si);
        return Status::Ok();
      }
      if (code == JSStreamNotFoundErr) {
        const std::string wildcard = options_.subject_prefix + ".>";
        const char* subjects[] = {wildcard.c_str()};
        jsStreamConfig cfg;
        jsStreamConfig_Init(&cfg);
        cfg.Name = options_.stream.c_str();
        cfg.Subjects = subjects;
        cfg.SubjectsLen = 1;
        cfg.Storage = js_FileStorage;
        cfg.Retention = js_LimitsPolicy;
        cfg.Discard = js_DiscardOld;
        cfg.Replicas = options_.replicas;
        cfg.Duplicates =
            std::chrono::duration_cast<std::chrono::nanoseconds>(options_.duplicate_window).count();
        if (options_.max_bytes > 0) cfg.MaxBytes = options_.max_bytes;
        if (options_.max_age.count() > 0) {
          cfg.MaxAge =
              std::chrono::duration_cast<std::chrono::nanoseconds>(options_.max_age).count();
        }
        code = static_cast<jsErrCode>(0);
        s = js_AddStream(&si, js_.get(), &cfg, nullptr, &code);
        if (s == NATS_OK) {
          jsStreamInfo_Destroy(si);
          return Status::Ok();
        }
        last = JsError(s, code, "create stream " + options_.stream);
      } else {
        last = JsError(s, code, "stream info " + options_.stream);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    } while (Clock::now() < deadline);
    return last;
  }

  // Reads the partition's entries at or after `from` into the watermarks and
  // end position (entries stored by groups whose acknowledgement this log
  // never saw, or before it opened).
  Status CatchUp(uint64_t from) {
    auto info = GetStreamInfo();
    if (!info) return info.error();
    const uint64_t last_seq = (*info)->State.LastSeq;
    std::unordered_map<std::string, storage::Watermark> seen;
    uint64_t next = 0;
    Status s = Scan(from, [&](uint64_t position, const GroupEntry& g) {
      if (!g.gateway_id.empty()) {
        storage::Watermark& m = seen[std::string(g.gateway_id)];
        m = std::max(m, g.watermark);
      }
      next = std::max(next, PositionOf(StreamSeqOf(position) + 1, 0));
      return Status::Ok();
    });
    if (!s.ok()) return s;
    storage::MutexLock lock(&mu_);
    for (auto& [gateway, mark] : seen) {
      storage::Watermark& m = marks_[gateway];
      m = std::max(m, mark);
    }
    next = std::max(next, PositionOf(last_seq + 1, 0));
    acked_end_ = std::max(acked_end_, next);
    if (end_.load(std::memory_order_relaxed) < next) end_.store(next, std::memory_order_release);
    return Status::Ok();
  }

  // Visits every entry of this partition at a position >= from, in order,
  // through an ephemeral pull consumer that starts at from's stream sequence.
  Status Scan(uint64_t from, const std::function<Status(uint64_t, const GroupEntry&)>& visit) {
    const uint64_t start_seq = std::max<uint64_t>(1, StreamSeqOf(from));
    auto info = GetStreamInfo();
    if (!info) return info.error();
    if ((*info)->State.LastSeq < start_seq || (*info)->State.Msgs == 0) return Status::Ok();

    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = kConsumerCreateAttemptMs;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = options_.stream.c_str();
    so.Config.DeliverPolicy = js_DeliverByStartSequence;
    so.Config.OptStartSeq = start_seq;
    so.Config.AckPolicy = js_AckNone;
    so.Config.InactiveThreshold = std::chrono::nanoseconds(std::chrono::seconds(30)).count();
    natsSubscription* sub = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    // Right after a failover the meta leader may not answer a consumer
    // creation at once: a few attempts, bounded.
    natsStatus ns = NATS_OK;
    const auto deadline = Clock::now() + kConsumerCreateWait;
    for (;;) {
      code = static_cast<jsErrCode>(0);
      ns = js_PullSubscribe(&sub, js_.get(), subject_.c_str(), nullptr, &jo, &so, &code);
      if (ns == NATS_OK || Clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    if (ns != NATS_OK) return JsError(ns, code, "replay consumer on " + subject_);
    struct SubCloser {
      natsSubscription* sub;
      ~SubCloser() {
        natsSubscription_Unsubscribe(sub);
        natsSubscription_Destroy(sub);
      }
    } closer{sub};

    jo.Wait = kFetchTimeoutMs;
    jsConsumerInfo* ci = nullptr;
    ns = natsSubscription_GetConsumerInfo(&ci, sub, &jo, &code);
    if (ns != NATS_OK) return JsError(ns, code, "replay consumer info");
    const uint64_t pending = ci->NumPending;
    jsConsumerInfo_Destroy(ci);

    uint64_t received = 0;
    while (received < pending) {
      natsMsgList list{};
      const int batch = static_cast<int>(std::min<uint64_t>(kFetchBatch, pending - received));
      ns = natsSubscription_Fetch(&list, sub, batch, kFetchTimeoutMs, &code);
      if (ns != NATS_OK) {
        natsMsgList_Destroy(&list);
        return JsError(ns, code,
                       "replay " + subject_ + " after " + std::to_string(received) + " of " +
                           std::to_string(pending) + " messages");
      }
      Status s;
      for (int i = 0; i < list.Count && s.ok(); ++i) {
        natsMsg* m = list.Msgs[i];
        jsMsgMetaData* meta = nullptr;
        ns = natsMsg_GetMetaData(&meta, m);
        if (ns != NATS_OK) {
          s = NatsError(ns, "replay message metadata");
          break;
        }
        const uint64_t seq = meta->Sequence.Stream;
        jsMsgMetaData_Destroy(meta);
        ++received;
        const std::string_view body(natsMsg_GetData(m),
                                    static_cast<size_t>(natsMsg_GetDataLength(m)));
        s = DecodeGroup(body, [&](uint32_t index, const GroupEntry& g) {
          const uint64_t position = PositionOf(seq, index);
          if (position < from) return Status::Ok();
          return visit(position, g);
        });
        if (!s.ok() && s.code() == Status::Code::kCorruption) {
          s = Status::Corruption("stream " + options_.stream + " seq " + std::to_string(seq) +
                                 ": " + s.message());
        }
      }
      natsMsgList_Destroy(&list);
      if (!s.ok()) return s;
    }
    return Status::Ok();
  }

  const JetStreamLogOptions options_;
  const std::string subject_;
  const std::filesystem::path checkpoint_file_;
  std::unique_ptr<NatsClient> client_;
  JsContext js_;

  // Appender thread only.
  const uint64_t nonce_;
  // The message id prefix of this log's control groups (group_message.h).
  const std::string control_id_prefix_ = "c-" + std::to_string(nonce_) + "-";
  std::optional<storage::AppliedState> opened_state_;
  uint64_t counter_ = 0;
  std::string body_;

  std::atomic<uint64_t> end_{PositionOf(1, 0)};
  std::atomic<uint64_t> duplicates_{0};
  std::atomic<bool> published_{false};

  mutable storage::Mutex mu_;
  storage::CondVar room_cv_;
  storage::CondVar watchdog_cv_;
  storage::CondVar callbacks_cv_;
  std::deque<std::unique_ptr<InFlight>> in_flight_ VIGIL_GUARDED_BY(mu_);
  bool draining_ VIGIL_GUARDED_BY(mu_) = false;
  bool closing_ VIGIL_GUARDED_BY(mu_) = false;
  int callbacks_running_ VIGIL_GUARDED_BY(mu_) = 0;
  // The first failure; appends are refused until Resume clears it.
  Status failed_ VIGIL_GUARDED_BY(mu_);
  std::unordered_map<std::string, storage::Watermark> marks_ VIGIL_GUARDED_BY(mu_);
  // Past every group this log knows stored (acknowledged or read at catch-up).
  uint64_t acked_end_ VIGIL_GUARDED_BY(mu_) = 0;
  uint64_t replay_from_ VIGIL_GUARDED_BY(mu_) = 0;

  std::thread watchdog_;
};

alarm::Result<std::unique_ptr<JetStreamIngestLog>> JetStreamIngestLog::Open(
    const JetStreamLogOptions& options) {
  if (options.state_dir.empty()) {
    return Status::InvalidArgument("jetstream ingest log: state_dir is required");
  }
  if (options.stream.empty() || options.subject_prefix.empty()) {
    return Status::InvalidArgument("jetstream ingest log: stream and subject_prefix are required");
  }
  if (options.replicas < 1 || options.replicas > 5) {
    return Status::InvalidArgument("jetstream ingest log: replicas must be 1..5");
  }
  if (options.max_in_flight == 0 || options.append_timeout.count() <= 0) {
    return Status::InvalidArgument(
        "jetstream ingest log: max_in_flight and append_timeout must be positive");
  }
  auto impl = std::make_unique<Impl>(options);
  Status s = impl->Open();
  if (!s.ok()) return s;
  impl->StartWatchdog();
  return std::unique_ptr<JetStreamIngestLog>(new JetStreamIngestLog(std::move(impl)));
}

JetStreamIngestLog::JetStreamIngestLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
JetStreamIngestLog::~JetStreamIngestLog() = default;

void JetStreamIngestLog::Append(std::span<const storage::LogAppend> group, AppendDone done) {
  impl_->Append(group, std::move(done));
}
uint64_t JetStreamIngestLog::end_position() const { return impl_->end_position(); }
uint64_t JetStreamIngestLog::replay_from() const { return impl_->replay_from(); }
alarm::Status JetStreamIngestLog::Replay(
    uint64_t from, const std::function<alarm::Status(uint64_t, const storage::LogEntry&)>& visit) {
  return impl_->Replay(from, visit);
}
alarm::Status JetStreamIngestLog::Checkpoint(uint64_t replay_from) {
  return impl_->Checkpoint(replay_from);
}
alarm::Result<std::unordered_map<std::string, storage::Watermark>>
JetStreamIngestLog::LoadWatermarks() {
  return impl_->LoadWatermarks();
}
alarm::Result<std::optional<storage::Watermark>> JetStreamIngestLog::LoadWatermark(
    std::string_view gateway_id) {
  return impl_->LoadWatermark(gateway_id);
}
alarm::Status JetStreamIngestLog::Resume() { return impl_->Resume(); }
std::optional<storage::AppliedState> JetStreamIngestLog::applied_state_at_open() const {
  return impl_->applied_state_at_open();
}
alarm::Status JetStreamIngestLog::CheckpointApplied(const storage::AppliedState& state) {
  return impl_->CheckpointApplied(state);
}
alarm::Result<uint64_t> JetStreamIngestLog::LastStored() { return impl_->LastStored(); }
bool JetStreamIngestLog::connected() const { return impl_->connected(); }

uint64_t JetStreamIngestLog::reconnects() const { return impl_->reconnects(); }
alarm::Status JetStreamIngestLog::Follow(
    uint64_t from, std::chrono::milliseconds poll,
    const std::function<alarm::Status(const storage::SharedLogEntry&)>& visit,
    const std::function<bool(uint64_t, bool)>& keep_going) {
  return impl_->Follow(from, poll, visit, keep_going);
}
const std::string& JetStreamIngestLog::subject() const { return impl_->subject(); }
uint64_t JetStreamIngestLog::duplicates() const { return impl_->duplicates(); }

}  // namespace vigil::cluster
