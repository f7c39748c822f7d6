#!/usr/bin/python3
"""Example gateway: Vigil's own gRPC API (Ingest.Write, docs/api.md), with Debian's
python3-grpcio and python3-protobuf.

The contract every Vigil gateway keeps:
  * batches are numbered: a sequence from 1 within an epoch; a new, larger epoch whenever the
    gateway loses its numbering (here: at every start, the start time in ms);
  * a batch stays in the buffer until the server acknowledged it (IngestAck, sent once durable);
  * while the server is unreachable or busy, batches pile up and are resent, oldest first, with
    the SAME epoch and sequence: one that was in fact stored is acked as a duplicate.
A gateway with much to send keeps an Ingest.Stream open instead (several batches in flight);
unary Write keeps this example short. The buffer is in memory; a real gateway keeps it on disk.

  grpc_gateway.py --server 127.0.0.1:7070 --gateway gw-1 --sensor s-1 [--sensor s-2]
      [--token-file FILE] [--interval 1] [--count N]

The Python stubs are generated at start from proto/ with Debian's protoc and grpc_python_plugin
(protobuf-compiler, protobuf-compiler-grpc) into a temporary folder.
"""
import argparse
import collections
import os
import random
import subprocess
import sys
import tempfile
import time

import grpc

PROTO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'proto')


def load_stubs():
    out = tempfile.mkdtemp(prefix='vigil-stubs-')
    subprocess.run(['protoc', '-I' + PROTO_DIR, '--python_out=' + out, '--grpc_out=' + out,
                    '--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin',
                    os.path.join(PROTO_DIR, 'vigil', 'v1', 'ingest.proto')], check=True)
    sys.path.insert(0, out)
    from vigil.v1 import ingest_pb2, ingest_pb2_grpc  # noqa: E402 (generated just now)
    return ingest_pb2, ingest_pb2_grpc


# Codes after which the same batch is resent later; any other code drops it (resending the same
# batch cannot help: INVALID_ARGUMENT, PERMISSION_DENIED, UNAUTHENTICATED).
RETRY = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
         grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ABORTED}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--server', default='127.0.0.1:7070')
    p.add_argument('--gateway', required=True)
    p.add_argument('--sensor', action='append', required=True)
    p.add_argument('--token-file')
    p.add_argument('--interval', type=float, default=1.0, help='seconds between readings')
    p.add_argument('--count', type=int, default=0, help='exit once N batches are acknowledged')
    p.add_argument('--max-buffered', type=int, default=100000, help='batches kept while offline')
    args = p.parse_args()
    pb, pb_grpc = load_stubs()
    metadata = []
    if args.token_file:
        metadata.append(('authorization', 'Bearer ' + open(args.token_file).read().strip()))
    stub = pb_grpc.IngestStub(grpc.insecure_channel(args.server))

    epoch = int(time.time() * 1000)  # numbering starts afresh: a larger epoch than any before
    sequence = 0
    buffer = collections.deque()  # unacknowledged batches, oldest first
    acknowledged = 0
    next_read = time.monotonic()
    retry_at = 0.0
    while args.count == 0 or acknowledged < args.count:
        now = time.monotonic()
        if now >= next_read and (args.count == 0 or sequence < args.count):
            sequence += 1
            batch = pb.IngestBatch(gateway_id=args.gateway, epoch=epoch, sequence=sequence)
            now_ms = int(time.time() * 1000)
            for sensor in args.sensor:  # stands in for the field bus
                batch.series.add(sensor_id=sensor, timestamps_ms=[now_ms],
                                 values=[round(20 + random.random(), 3)])
            buffer.append(batch)
            if len(buffer) > args.max_buffered:
                print('buffer full: dropped batch %d' % buffer.popleft().sequence, file=sys.stderr)
            next_read = now + args.interval
        while buffer and time.monotonic() >= retry_at:
            batch = buffer[0]
            try:
                ack = stub.Write(batch, timeout=30, metadata=metadata)
            except grpc.RpcError as e:
                if e.code() == grpc.StatusCode.FAILED_PRECONDITION:
                    # Our epoch is below the stored one (a clock set back): renumber every
                    # buffered batch in an epoch above it.
                    epoch = stub.GetWatermark(pb.GetWatermarkRequest(gateway_id=args.gateway),
                                              timeout=30, metadata=metadata).epoch + 1
                    for sequence, b in enumerate(buffer, start=1):
                        b.epoch, b.sequence = epoch, sequence
                    continue
                if e.code() not in RETRY:
                    print('batch %d refused, dropped: %s %s'
                          % (batch.sequence, e.code().name, e.details()), file=sys.stderr)
                    buffer.popleft()
                    continue
                print('batch %d not acknowledged (%s); %d buffered, retrying'
                      % (batch.sequence, e.code().name, len(buffer)), file=sys.stderr)
                retry_at = time.monotonic() + 1
                break
            buffer.popleft()
            acknowledged += 1
            print('ack sequence=%d stored=%d duplicate=%s rejected=%d'
                  % (ack.sequence, ack.stored_readings, ack.duplicate, ack.rejected_readings),
                  flush=True)
            for r in ack.rejections:
                print('  rejected %s: %s' % (r.sensor_id, r.detail), flush=True)
        time.sleep(min(0.1, max(0.0, next_read - time.monotonic())))


if __name__ == '__main__':
    main()
