// Turning a received IngestBatch into what storage keeps: every series and
// reading is validated (alarm/validation.h); the accepted ones are copied
// into an IngestRecord, the rejected ones named in the ack. Runs on the gRPC
// thread that read the batch. No lock; no allocation per reading (the record
// and the ack's rejection list grow per batch).
#pragma once

#include <array>
#include <span>
#include <string>
#include <string_view>

#include "alarm/registry.h"
#include "alarm/status.h"
#include "alarm/validation.h"
#include "storage/ingest_record.h"
#include "vigil/v1/ingest.pb.h"

namespace vigil::server {

// Most rejections listed in one ack; IngestAck.rejected_readings counts all.
inline constexpr int kMaxListedRejections = 100;

struct PreparedBatch {
  std::string record;              // IngestRecord of the accepted readings
  uint32_t accepted_readings = 0;  // readings in `record`
  v1::IngestAck ack;               // epoch, sequence, rejections, rejected_readings set
  // Rejected readings by alarm::RejectReason value (all of them, not only the listed).
  std::array<uint32_t, alarm::kRejectReasonSlots> rejected_by_reason{};
};

// kInvalidArgument when `gateway_id` is longer than alarm::kMaxIdBytes (it
// cannot be a registered gateway's, and is not echoed back); else ok. Checked
// before anything else that names the gateway.
alarm::Status CheckGatewayId(std::string_view gateway_id);

// Checks `batch` from `gateway` against `registry`, the time window and the
// limits, fills *out, and returns ok. The record is split for `shard_count`
// shards, each series in the section of the shard that owns it, named by
// its Sensor::log_number (by id when 0, or when `by_number` is false: a log
// that other nodes apply, whose sensor numbers are this node's own). A batch
// over the size limits is
// answered with one whole-batch rejection and no readings (still ok: the
// gateway must not resend it). Batch-level errors that end a stream are
// returned as a Status: kInvalidArgument (sequence 0).
// REQUIRES: gateway.id == batch.gateway_id(), 1 <= shard_count <=
// storage::IngestRecordBuilder::kMaxSections.
alarm::Status PrepareBatch(const v1::IngestBatch& batch, const alarm::Registry& registry,
                           const alarm::Gateway& gateway, const alarm::TimeWindow& window,
                           const alarm::IngestLimits& limits, uint32_t shard_count,
                           storage::IngestRecordBuilder* builder, PreparedBatch* out,
                           bool by_number = true);

// A batch as views, for a protocol that decodes into its own buffers instead
// of a v1::IngestBatch (line protocol: server/http/line_batch.h). The views
// must stay valid during PrepareSeries.
struct SeriesBatch {
  std::string_view gateway_id;
  uint64_t epoch = 0;
  uint64_t sequence = 0;
  std::span<const alarm::SeriesView> series;
  // alarm::IdIndex::Hash of each series' sensor id (any value for an id over
  // alarm::kMaxIdBytes, which is rejected unread).
  std::span<const uint64_t> id_hashes;
};

// PrepareBatch over views: the same checks, record and ack (series_index is
// the index in `batch.series`). REQUIRES: as PrepareBatch, with
// batch.id_hashes.size() == batch.series.size().
alarm::Status PrepareSeries(const SeriesBatch& batch, const alarm::Registry& registry,
                            const alarm::Gateway& gateway, const alarm::TimeWindow& window,
                            const alarm::IngestLimits& limits, uint32_t shard_count,
                            storage::IngestRecordBuilder* builder, PreparedBatch* out,
                            bool by_number = true);

}  // namespace vigil::server
