#include "server/query_service.h"

#include "server/grpc_status.h"

namespace vigil::server {

QueryService::QueryService(RegistryHolder* registry, ShardSet* shards, storage::Store* store,
                           BlockingExecutor blocking)
    : registry_(registry), shards_(shards), store_(store), blocking_(std::move(blocking)) {}

grpc::ServerUnaryReactor* QueryService::ReadRaw(grpc::CallbackServerContext* context,
                                                const v1::ReadRawRequest* request,
                                                v1::ReadRawResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (registry_->Get()->FindSensor(request->sensor_id()) == nullptr) {
    reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND,
                                 "sensor '" + request->sensor_id() + "' is not in the registry"));
    return reactor;
  }
  if (request->from_ms() >= request->to_ms()) {
    reactor->Finish(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "from_ms must be before to_ms"));
    return reactor;
  }
  const uint32_t limit = request->limit() == 0 || request->limit() > kMaxReadRawLimit
                             ? kMaxReadRawLimit
                             : request->limit();
  // The continuations below capture it by copy.
  const std::string& sensor_id = request->sensor_id();
  const alarm::TimestampMs from = request->from_ms();
  const alarm::TimestampMs to = request->to_ms();
  storage::Store* store = store_;
  BlockingExecutor blocking = blocking_;
  // Head first, then chunks: a head sealed in between shows up in the chunks
  // (and is de-duplicated below); the other order could miss it.
  shards_->ReadHead(sensor_id, from, to, [=](std::vector<alarm::Reading> head) {
    blocking([=, head = std::move(head)] {
      std::vector<alarm::Reading> chunked;
      alarm::Status st = store->ReadChunks(sensor_id, from, to, &chunked);
      if (!st.ok()) {
        reactor->Finish(ToGrpc(st));
        return;
      }
      response->set_sensor_id(sensor_id);
      // Merge two time-ordered lists; on equal timestamps the head (newer) wins.
      size_t i = 0;
      size_t j = 0;
      uint32_t emitted = 0;
      while (i < chunked.size() || j < head.size()) {
        const alarm::Reading* next;
        if (j == head.size() || (i < chunked.size() && chunked[i].at < head[j].at)) {
          next = &chunked[i++];
        } else {
          if (i < chunked.size() && chunked[i].at == head[j].at) ++i;
          next = &head[j++];
        }
        if (emitted == limit) {
          response->set_truncated(true);
          response->set_next_from_ms(next->at);
          break;
        }
        response->add_timestamps_ms(next->at);
        response->add_values(next->value);
        response->add_quality(next->quality);
        ++emitted;
      }
      reactor->Finish(grpc::Status::OK);
    });
  });
  return reactor;
}

}  // namespace vigil::server
