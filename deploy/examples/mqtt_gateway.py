#!/usr/bin/python3
"""Example gateway: JSON batches over MQTT (docs/mqtt-ingest.md), with Debian's python3-paho-mqtt.

It publishes each batch at QoS 1 to vigil/ingest/<gateway> and listens (QoS 1) to
vigil/ingest/<gateway>/ack, where vigild publishes its answer once the batch is durable: the ack
JSON of POST /api/v1/ingest (stored, duplicate, each rejection) or why the batch can never be
stored. The contract:
  * batches are numbered (a sequence from 1 within an epoch; a new, larger epoch at every start);
  * a batch stays in the buffer until vigild answered it (the broker's PUBACK only means the
    broker queued it for vigild);
  * while the broker or vigild is unreachable, batches pile up and are resent, oldest first, with
    the SAME epoch and sequence: one that was in fact stored is answered as a duplicate.
The session is persistent (clean session off, a fixed client id), so answers published while the
gateway was offline wait at the broker. --no-ack: vigild's mqtt.ack_suffix is "" (no answers),
so the broker's PUBACK is all there is. The buffer is in memory; a real gateway keeps it on disk.

  mqtt_gateway.py --broker 127.0.0.1:1883 --gateway gw-1 --sensor s-1 [--sensor s-2]
      [--username gw-1 --password-file FILE] [--interval 1] [--count N] [--ack-timeout 10]
"""
import argparse
import collections
import json
import random
import sys
import threading
import time

import paho.mqtt.client as mqtt


def read_sensors(sensors):
    """Stands in for the field bus: one reading per sensor, now."""
    now_ms = int(time.time() * 1000)
    return [{'sensor_id': s, 'timestamps_ms': [now_ms], 'values': [round(20 + random.random(), 3)]}
            for s in sensors]


class Answers:
    """vigild's answers, by (epoch, sequence), handed from paho's thread to the main loop."""

    def __init__(self):
        self.cond = threading.Condition()
        self.by_number = {}

    def on_message(self, client, userdata, message):
        try:
            answer = json.loads(message.payload)
        except ValueError:
            return
        with self.cond:
            self.by_number[(answer.get('epoch'), answer.get('sequence'))] = answer
            self.cond.notify_all()

    def wait(self, epoch, sequence, timeout):
        with self.cond:
            self.cond.wait_for(lambda: (epoch, sequence) in self.by_number, timeout)
            return self.by_number.pop((epoch, sequence), None)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--broker', default='127.0.0.1:1883', help='host:port')
    p.add_argument('--gateway', required=True)
    p.add_argument('--sensor', action='append', required=True)
    p.add_argument('--topic-prefix', default='vigil/ingest/')
    p.add_argument('--username')
    p.add_argument('--password-file')
    p.add_argument('--interval', type=float, default=1.0, help='seconds between readings')
    p.add_argument('--count', type=int, default=0, help='exit once N batches are answered')
    p.add_argument('--max-buffered', type=int, default=100000, help='batches kept while offline')
    p.add_argument('--ack-timeout', type=float, default=10.0,
                   help='seconds to wait for vigild\'s answer before resending')
    p.add_argument('--no-ack', action='store_true', help='vigild publishes no answers')
    args = p.parse_args()
    host, port = args.broker.rsplit(':', 1)
    topic = args.topic_prefix + args.gateway
    answers = Answers()

    client = mqtt.Client(client_id='gateway-' + args.gateway, clean_session=False)
    if args.username:
        client.username_pw_set(args.username, open(args.password_file).read().strip()
                               if args.password_file else None)
    client.on_message = answers.on_message
    if not args.no_ack:
        # On every connect: a broker that lost the session no longer has the subscription.
        client.on_connect = lambda c, userdata, flags, rc: c.subscribe(topic + '/ack', qos=1)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    client.connect_async(host, int(port), keepalive=30)
    client.loop_start()  # paho's thread connects, and reconnects after a loss

    epoch = int(time.time() * 1000)  # numbering starts afresh: a larger epoch than any before
    sequence = 0
    buffer = collections.deque()  # unanswered batches, oldest first
    answered = 0
    next_read = time.monotonic()
    while args.count == 0 or answered < args.count:
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
                print('batch %d not acknowledged by the broker; %d buffered, resent after '
                      'reconnect' % (batch['sequence'], len(buffer)), file=sys.stderr)
                break
            if not args.no_ack:
                answer = answers.wait(epoch, batch['sequence'], args.ack_timeout)
                if answer is None:
                    print('batch %d not answered; %d buffered, resent' % (batch['sequence'],
                                                                         len(buffer)),
                          file=sys.stderr)
                    break
                if 'error' in answer:
                    # Can never be stored (malformed, a gateway not in the registry): resending
                    # cannot help.
                    print('batch %d refused, dropped: %s' % (batch['sequence'], answer['error']),
                          file=sys.stderr)
                else:
                    print('ack sequence=%d stored=%d duplicate=%s rejected=%d'
                          % (answer['sequence'], answer['stored_readings'], answer['duplicate'],
                             answer['rejected_readings']), flush=True)
                    for r in answer['rejections']:
                        print('  rejected %s: %s %s' % (r['sensor_id'], r['reason'], r['detail']),
                              flush=True)
            else:
                print('published sequence=%d' % batch['sequence'], flush=True)
            buffer.popleft()
            answered += 1
        time.sleep(min(0.1, max(0.0, next_read - time.monotonic())))
    client.loop_stop()
    client.disconnect()


if __name__ == '__main__':
    main()
