#!/bin/sh
# Dependencies point server -> cluster -> storage -> alarm, server -> proto, and never back:
# alarm has no gRPC, RocksDB, protobuf or threads; storage has no gRPC or
# protobuf, and RocksDB only in its rocksdb_*.cc files and the private
# rocksdb_partitions.h and rocksdb_store_impl.h, which nothing outside them includes.
root=${1:-.}
fail=0
check() { # pattern files... : fails when any file matches
  pattern=$1; shift
  hits=$(grep -nE "$pattern" "$@" 2>/dev/null)
  if [ -n "$hits" ]; then echo "layering violation ($pattern):"; echo "$hits"; fail=1; fi
}
check '#include [<"](grpc|grpcpp|rocksdb|google/protobuf|vigil/v1|boost|yaml-cpp|storage/|server/)' "$root"/alarm/*.h "$root"/alarm/*.cc
check '#include <(thread|mutex|atomic)>' "$root"/alarm/*.h "$root"/alarm/*.cc
check '#include [<"](grpc|grpcpp|google/protobuf|vigil/v1|server/)' "$root"/storage/*.h "$root"/storage/*.cc
check '#include [<"]rocksdb/' $(ls "$root"/storage/*.h "$root"/storage/*.cc |
  grep -v -e '/rocksdb_[a-z_]*\.cc$' -e '/rocksdb_partitions\.h$' -e '/rocksdb_store_impl\.h$')
check '#include "storage/rocksdb_(partitions|store_impl)\.h"' $(ls "$root"/storage/*.h "$root"/storage/*.cc |
  grep -v -e '/rocksdb_[a-z_]*\.cc$' -e '/rocksdb_store_impl\.h$') $(find "$root"/server -name '*.h' -o -name '*.cc')
# Each consumer holds the Store slice it uses, not the whole Store (storage/store.h is for its
# owner and ops): the writer the IngestLog, shards and queries the ChunkStore, the journal thread
# and the alarm service the JournalStore.
check '#include "storage/store\.h"' $(find "$root"/server \( -name 'storage_writer.*' -o \
  -name 'shard.*' -o -name 'query_service.*' -o -name 'alarm_journal.*' -o -name 'alarm_service.*' \))
# Locks are storage/mutex.h's annotated types, so clang -Wthread-safety sees every one
# (tests/run_sanitized.sh clang); std::mutex and friends carry no annotations. vigilctl
# (server/ctl), a client of the public API only, keeps the standard ones.
check 'std::(mutex|shared_mutex|recursive_mutex|condition_variable|lock_guard|unique_lock|scoped_lock|shared_lock)\b' \
  $(ls "$root"/storage/*.h "$root"/storage/*.cc | grep -v '/mutex\.h$') $(find "$root"/server -path '*/ctl' -prune -o \( -name '*.h' -o -name '*.cc' \) -print)
# server/http sits above api/ (beside ops/): no room below it includes it, it
# includes no gRPC header (only api's protocol-neutral parts: access, limits,
# ingest_submit), and its body parsers (fuzzed with clang) see neither Asio
# nor anything of the server but their own folder.
check '#include "server/http/' $(find "$root"/server/config "$root"/server/log "$root"/server/pipeline \
  "$root"/server/api -name '*.h' -o -name '*.cc' 2>/dev/null)
check '#include [<"](grpc|grpcpp)' $(find "$root"/server/http -name '*.h' -o -name '*.cc')
check '#include [<"](boost|grpc|grpcpp|rocksdb|server/(api|pipeline|config|log)/)' \
  $(ls "$root"/server/http/ingest_json.* "$root"/server/http/line_protocol.* "$root"/server/http/gzip.*)
# api/alarm_desk and reading_desk are the alarm and reading rules without gRPC, shared by the
# gRPC services and the console.
check '#include [<"](grpc|grpcpp|vigil/v1)' "$root"/server/api/alarm_desk.h "$root"/server/api/alarm_desk.cc \
  "$root"/server/api/reading_desk.h "$root"/server/api/reading_desk.cc
# server/mqtt sits above api/ beside http/: no room below it includes it (ops/ may read its
# mqtt_stats.h), it includes no gRPC or Asio header, it takes only http's body parsers (never
# the Beast listener), and Paho's headers stay in mqtt_ingest.cc.
check '#include "server/mqtt/' $(find "$root"/server/config "$root"/server/log "$root"/server/pipeline \
  "$root"/server/api "$root"/server/http -name '*.h' -o -name '*.cc' 2>/dev/null)
check '#include "server/mqtt/(mqtt_ingest|mqtt_message)\.h"' $(find "$root"/server/ops -name '*.h' -o -name '*.cc')
check '#include [<"](grpc|grpcpp|boost)|#include "server/http/(http_server|http_ingest)\.h"' \
  $(find "$root"/server/mqtt -name '*.h' -o -name '*.cc')
check '#include [<"]MQTT' $(find "$root"/server "$root"/tests -name '*.h' -o -name '*.cc' | grep -v '/server/mqtt/mqtt_ingest\.cc$')
# Server headers that tests and main include stay free of gRPC, RocksDB and Asio.
check '#include [<"](grpc|grpcpp|rocksdb|boost)' "$root"/server/config/options.h "$root"/server/config/config.h \
  "$root"/server/config/registry_yaml.h "$root"/server/server.h
# The simulator's generation library (bench/sim, target vigil_sim) is pure: no gRPC or protobuf;
# only gateway_client.cc, alarm_stream.cc and vigil_sim.cc (the streaming side) talk to vigild.
check '#include [<"](grpc|grpcpp|google/protobuf|vigil/v1|rocksdb|server/|storage/|bench/common/channel)' \
  $(ls "$root"/bench/sim/*.h "$root"/bench/sim/*.cc | grep -v -e gateway_client.cc -e alarm_stream.cc -e vigil_sim.cc)
# cluster (the ingest log on NATS JetStream) sits between storage and server: no gRPC,
# protobuf, RocksDB or server code. The NATS C client's headers stay in cluster/nats_client.h
# and cluster/*.cc; the headers server code includes (the log, its options) are free of them.
check '#include [<"](grpc|grpcpp|google/protobuf|vigil/v1|rocksdb|server/)' "$root"/cluster/*.h "$root"/cluster/*.cc
check '#include [<"]nats/' $(ls "$root"/cluster/*.h | grep -v '/nats_client\.h$') \
  "$root"/alarm/*.h "$root"/alarm/*.cc "$root"/storage/*.h "$root"/storage/*.cc \
  $(find "$root"/server -name '*.h' -o -name '*.cc')
check 'std::(mutex|shared_mutex|recursive_mutex|condition_variable|lock_guard|unique_lock|scoped_lock|shared_lock)\b' \
  "$root"/cluster/*.h "$root"/cluster/*.cc
exit $fail
