#include "server/api/journal_service.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <utility>

#include "server/api/grpc_status.h"
#include "server/api/journal_export.h"
#include "server/log/log.h"

namespace vigil::server {
namespace {

constexpr size_t kChunkBytes = size_t{1} << 20;

alarm::TimestampMs WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

grpc::Status Unavailable(const alarm::Status& s) {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, s.message());
}

}  // namespace

// One ExportJournal stream: builds and signs the file on the blocking pool,
// then writes it in chunks (each write starts from the previous one's
// OnWriteDone), the signature and summary in the last. Deletes itself in
// OnDone, which gRPC calls only after Finish, and Finish comes only after
// the blocking task is done with it.
class JournalService::Export final : public grpc::ServerWriteReactor<v1::ExportJournalChunk> {
 public:
  Export(JournalService* service, v1::ExportJournalRequest request, std::string actor)
      : service_(service), request_(std::move(request)), actor_(std::move(actor)) {}

  void Start() {
    service_->blocking_([this] {
      grpc::Status s = Build();
      if (!s.ok()) {
        Finish(s);
        return;
      }
      WriteNext();
    });
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
      return;
    }
    WriteNext();
  }
  void OnDone() override {
    // The file is freed with the reactor: only then may the next export start.
    service_->exporting_.store(false, std::memory_order_release);
    delete this;
  }

 private:
  grpc::Status Build() {
    uint64_t from = request_.from_seq();
    uint64_t to = request_.to_seq() == 0 ? UINT64_MAX : request_.to_seq();
    const bool by_time = request_.from_ms() != 0 || request_.to_ms() != 0;
    if (by_time) {
      // The contiguous seq range from the first to the last entry in time.
      const alarm::TimestampMs t0 = request_.from_ms() == 0 ? INT64_MIN : request_.from_ms();
      const alarm::TimestampMs t1 = request_.to_ms() == 0 ? INT64_MAX : request_.to_ms();
      uint64_t lo = UINT64_MAX;
      uint64_t hi = 0;
      alarm::Status s = service_->store_->ScanJournalByTime(t0, t1, [&](uint64_t seq, auto) {
        lo = std::min(lo, seq);
        hi = std::max(hi, seq);
        return true;
      });
      if (!s.ok()) return Unavailable(s);
      from = lo;
      to = hi;
      if (lo > hi) {  // nothing in the window: an empty export
        from = 1;
        to = 0;
      }
    }
    JournalExportHeader header{.requested_from_seq = request_.from_seq(),
                               .requested_to_seq = request_.to_seq(),
                               .exported_at = WallMs(),
                               .signing_key_sha256 = service_->key_->public_key_sha256()};
    std::optional<JournalExport> out;
    bool complete = true;
    alarm::Status read = service_->store_->ReadChainedJournal(
        from, to,
        [&](const storage::ChainRecord& start) {
          header.genesis_seq = start.genesis_seq;
          header.from_seq = start.anchor_seq;
          header.prev_hash = start.anchor_hash;
          out.emplace(header, service_->export_max_bytes_);
        },
        [&](uint64_t seq, std::string_view entry, const storage::ChainHash& hash) {
          if (!out->Add(seq, entry, hash)) {
            complete = false;
            return false;
          }
          return true;
        });
    if (!read.ok()) return Unavailable(read);
    if (!out) {
      header.from_seq = from == UINT64_MAX ? 1 : std::max<uint64_t>(from, 1);
      out.emplace(header, service_->export_max_bytes_);
    }
    summary_.set_from_seq(header.from_seq);
    summary_.set_last_seq(out->last_seq());
    summary_.set_entries(out->entries());
    summary_.set_prev_hash(storage::ChainHashHex(header.prev_hash));
    summary_.set_last_hash(storage::ChainHashHex(out->last_hash()));
    summary_.set_complete(complete);
    summary_.set_signing_key_sha256(service_->key_->public_key_sha256());
    file_ = out->Finish(complete);
    summary_.set_bytes(file_.size());
    auto signature = service_->key_->Sign(file_);
    if (!signature) return Unavailable(signature.error());
    signature_ = std::move(*signature);
    LogInfo("journal_exported", {{"actor", actor_},
                                 {"from_seq", summary_.from_seq()},
                                 {"last_seq", summary_.last_seq()},
                                 {"entries", summary_.entries()},
                                 {"bytes", summary_.bytes()},
                                 {"complete", complete}});
    return grpc::Status::OK;
  }

  void WriteNext() {
    if (done_) {
      Finish(grpc::Status::OK);
      return;
    }
    chunk_.Clear();
    const size_t n = std::min(kChunkBytes, file_.size() - offset_);
    chunk_.set_data(file_.substr(offset_, n));
    offset_ += n;
    if (offset_ == file_.size()) {
      chunk_.set_signature(signature_);
      *chunk_.mutable_summary() = summary_;
      done_ = true;
    }
    StartWrite(&chunk_);
  }

  JournalService* service_;
  v1::ExportJournalRequest request_;
  std::string actor_;
  std::string file_;
  std::string signature_;
  v1::ExportJournalSummary summary_;
  v1::ExportJournalChunk chunk_;
  size_t offset_ = 0;
  bool done_ = false;
};

JournalService::JournalService(storage::JournalStore* store, BlockingExecutor blocking,
                               const AccessControl* access, std::shared_ptr<const SigningKey> key,
                               uint64_t export_max_bytes)
    : store_(store),
      blocking_(std::move(blocking)),
      access_(access),
      key_(std::move(key)),
      export_max_bytes_(export_max_bytes) {}

grpc::ServerUnaryReactor* JournalService::VerifyJournal(grpc::CallbackServerContext* context,
                                                        const v1::VerifyJournalRequest* request,
                                                        v1::VerifyJournalResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (auto caller = access_->Require(*context, Role::kAdmin, "verify the alarm journal"); !caller) {
    reactor->Finish(ToGrpc(caller.error()));
    return reactor;
  }
  if (request->max_entries() > kMaxVerifyEntries) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 "max_entries is at most " + std::to_string(kMaxVerifyEntries) +
                                     ", got " + std::to_string(request->max_entries())));
    return reactor;
  }
  const uint64_t from = request->from_seq();
  const uint64_t max = request->max_entries() == 0 ? kDefaultVerifyEntries : request->max_entries();
  blocking_([this, reactor, response, from, max] {
    auto check = store_->VerifyJournalChain(from, max);
    if (!check) {
      reactor->Finish(Unavailable(check.error()));
      return;
    }
    response->set_genesis_seq(check->genesis_seq);
    response->set_first_seq(check->first_seq);
    response->set_verified(check->verified);
    response->set_last_seq(check->last_seq);
    response->set_last_hash(storage::ChainHashHex(check->last_hash));
    response->set_next_seq(check->next_seq);
    if (check->broken) {
      response->set_broken(true);
      response->set_broken_seq(check->broken->seq);
      response->set_problem(check->broken->problem);
      LogWarn("journal_chain_broken",
              {{"seq", check->broken->seq}, {"problem", check->broken->problem}});
    }
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerWriteReactor<v1::ExportJournalChunk>* JournalService::ExportJournal(
    grpc::CallbackServerContext* context, const v1::ExportJournalRequest* request) {
  class Failed final : public grpc::ServerWriteReactor<v1::ExportJournalChunk> {
   public:
    explicit Failed(grpc::Status status) { Finish(std::move(status)); }
    void OnDone() override { delete this; }
  };
  auto caller = access_->Require(*context, Role::kAdmin, "export the alarm journal");
  if (!caller) return new Failed(ToGrpc(caller.error()));
  const bool by_seq = request->from_seq() != 0 || request->to_seq() != 0;
  const bool by_time = request->from_ms() != 0 || request->to_ms() != 0;
  if (by_seq && by_time) {
    return new Failed(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                   "give a seq range or a time range, not both"));
  }
  if ((request->to_seq() != 0 && request->from_seq() > request->to_seq()) ||
      (request->to_ms() != 0 && request->from_ms() >= request->to_ms())) {
    return new Failed(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the range ends before it starts"));
  }
  if (key_ == nullptr) {
    return new Failed(grpc::Status(
        grpc::StatusCode::FAILED_PRECONDITION,
        "exports are signed and this server has no journal.signing_key_file (an Ed25519 PEM "
        "private key: openssl genpkey -algorithm ed25519 -out journal-signing.pem)"));
  }
  if (exporting_.exchange(true, std::memory_order_acq_rel)) {
    return new Failed(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                   "another journal export is running; try again when it ends"));
  }
  auto* stream = new Export(this, *request, caller->name);
  stream->Start();
  return stream;
}

}  // namespace vigil::server
