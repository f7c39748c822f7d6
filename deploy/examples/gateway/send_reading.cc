// send_reading: the smallest Vigil gateway, written from the comments of
// proto/vigil/v1/ingest.proto. It sends one batch with one reading of one
// sensor through Ingest.Write and prints the server's ack. A real gateway
// keeps a stream open (Ingest.Stream), numbers its batches 1, 2, 3 ... within
// an epoch and resends every unacked batch after a reconnect; the server
// stores each batch once (a resend at or below the stored sequence is acked
// as a duplicate).
//
//   send_reading [--server HOST:PORT] GATEWAY_ID SENSOR_ID VALUE
//
// Plaintext, no token: for a vigild on loopback (deploy/vigil.yaml). Exit 0
// when the reading was stored, 1 otherwise.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "vigil/v1/ingest.grpc.pb.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string server = "127.0.0.1:7070";
  if (args.size() >= 2 && args[0] == "--server") {
    server = args[1];
    args.erase(args.begin(), args.begin() + 2);
  }
  char* end = nullptr;
  const double value = args.size() == 3 ? std::strtod(args[2].c_str(), &end) : 0;
  if (args.size() != 3 || end == args[2].c_str() || *end != '\0') {
    std::cerr << "usage: send_reading [--server HOST:PORT] GATEWAY_ID SENSOR_ID VALUE\n";
    return 2;
  }
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  vigil::v1::IngestBatch batch;
  batch.set_gateway_id(args[0]);
  // A new epoch per run (a higher epoch restarts the gateway's numbering),
  // so every run's batch 1 is new to the server.
  batch.set_epoch(
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(now).count()));
  batch.set_sequence(1);
  vigil::v1::Series* series = batch.add_series();
  series->set_sensor_id(args[1]);
  series->add_timestamps_ms(std::chrono::duration_cast<std::chrono::milliseconds>(now).count());
  series->add_values(value);

  auto stub =
      vigil::v1::Ingest::NewStub(grpc::CreateChannel(server, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  vigil::v1::IngestAck ack;
  const grpc::Status status = stub->Write(&context, batch, &ack);
  if (!status.ok()) {
    std::cerr << "send_reading: " << status.error_code() << " " << status.error_message() << "\n";
    return 1;
  }
  std::cout << "stored=" << ack.stored_readings() << " rejected=" << ack.rejected_readings()
            << (ack.duplicate() ? " duplicate" : "") << "\n";
  for (const vigil::v1::Rejection& r : ack.rejections()) {
    std::cout << "rejected " << r.ShortDebugString() << "\n";
  }
  return ack.stored_readings() == 1 ? 0 : 1;
}
