#!/usr/bin/python3
"""Example gateway: JSON batches over MQTT (docs/mqtt-ingest.md), with Debian's python3-paho-mqtt.

It publishes each batch at QoS 1 to vigil/ingest/<gateway>; vigild stores it and only then lets
the broker have its acknowledgement, while the broker acknowledges this gateway's PUBLISH as soon
as it has queued the message for vigild. The contract:
  * batches are numbered (a sequence from 1 within an epoch; a new, larger epoch at every start);
  * a batch stays in the buffer until the broker acknowledged it (PUBACK);
  * while the broker is unreachable, batches pile up and are resent, oldest first, with the SAME
    epoch and sequence: one that was in fact stored comes back to vigild as a duplicate.
vigild never answers the gateway over MQTT: rejections (an unknown sensor) show in vigild's log.
The buffer is in memory; a real gateway keeps it on disk.

  mqtt_gateway.py --broker 127.0.0.1:1883 --gateway gw-1 --sensor s-1 [--sensor s-2]
      [--username gw-1 --password-file FILE] [--interval 1] [--count N]
"""
import argparse
import collections
import json
import random
import sys
import time

import paho.mqtt.client as mqtt


def read_sensors(sensors):
    """Stands in for the field bus: one reading per sensor, now."""
    now_ms = int(time.time() * 1000)
    return [{'sensor_id': s, 'timestamps_ms': [now_ms], 'values': [round(20 + random.random(), 3)]}
            for s in sensors]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--broker', default='127.0.0.1:1883', help='host:port')
    p.add_argument('--gateway', required=True)
    p.add_argument('--sensor', action='append', required=True)
    p.add_argument('--topic-prefix', default='vigil/ingest/')
    p.add_argument('--username')
    p.add_argument('--password-file')
    p.add_argument('--interval', type=float, default=1.0, help='seconds between readings')
    p.add_argument('--count', type=int, default=0, help='exit once N batches are acknowledged')
    p.add_argument('--max-buffered', type=int, default=100000, help='batches kept while offline')
    args = p.parse_args()
    host, port = args.broker.rsplit(':', 1)
    topic = args.topic_prefix + args.gateway

    client = mqtt.Client(client_id='gateway-' + args.gateway, clean_session=True)
    if args.username:
        client.username_pw_set(args.username, open(args.password_file).read().strip()
                               if args.password_file else None)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    client.connect_async(host, int(port), keepalive=30)
    client.loop_start()  # paho's thread connects, and reconnects after a loss

    epoch = int(time.time() * 1000)  # numbering starts afresh: a larger epoch than any before
    sequence = 0
    buffer = collections.deque()  # unacknowledged batches, oldest first
    acknowledged = 0
    next_read = time.monotonic()
    while args.count == 0 or acknowledged < args.count:
        now = time.monotonic()
        if now >= next_read and (args.count == 0 or sequence < args.count):
            sequence += 1
            buffer.append({'gateway_id': args.gateway, 'epoch': epoch, 'sequence': sequence,
                           'series': read_sensors(args.sensor)})
            if len(buffer) > args.max_buffered:
                lost = buffer.popleft()
                print('buffer full: dropped batch %d' % lost['sequence'], file=sys.stderr)
            next_read = now + args.interval
        while buffer and client.is_connected():
            batch = buffer[0]
            info = client.publish(topic, json.dumps(batch), qos=1)
            try:
                info.wait_for_publish(timeout=10)
            except (RuntimeError, ValueError):  # not queued: the connection just dropped
                pass
            if not info.is_published():
                print('batch %d not acknowledged; %d buffered, resent after reconnect'
                      % (batch['sequence'], len(buffer)), file=sys.stderr)
                break
            buffer.popleft()
            acknowledged += 1
            print('published sequence=%d' % batch['sequence'], flush=True)
        time.sleep(min(0.1, max(0.0, next_read - time.monotonic())))
    client.loop_stop()
    client.disconnect()


if __name__ == '__main__':
    main()
