#!/usr/bin/python3
"""Example gateway: JSON batches over HTTP (POST /api/v1/ingest, docs/http-ingest.md).

The contract every Vigil gateway keeps, whatever the protocol:
  * batches are numbered: a sequence from 1 within an epoch; a new, larger epoch whenever the
    gateway loses its numbering (here: at every start, the start time in ms);
  * a batch stays in the buffer until the server acknowledged it (sent once durable);
  * while the server is unreachable or busy, batches pile up in the buffer, and are resent,
    oldest first, with the SAME epoch and sequence: a batch that was in fact stored comes back
    as "duplicate" and stores nothing twice.
This one keeps the buffer in memory, so a gateway restart loses what was not acknowledged; a
real gateway keeps it on disk.

  http_json_gateway.py --url http://127.0.0.1:8080 --gateway gw-1 --sensor s-1 [--sensor s-2]
      [--token-file FILE] [--interval 1] [--count N]

Python 3 standard library only (Debian's /usr/bin/python3).
"""
import argparse
import collections
import json
import random
import sys
import time
import urllib.error
import urllib.request


def read_sensors(sensors):
    """Stands in for the field bus: one reading per sensor, now."""
    now_ms = int(time.time() * 1000)
    return [{'sensor_id': s, 'timestamps_ms': [now_ms], 'values': [round(20 + random.random(), 3)]}
            for s in sensors]


def send(url, token, batch):
    """POSTs one batch. Returns the ack, or raises RetryLater (keep it) or Refused (drop it)."""
    request = urllib.request.Request(url + '/api/v1/ingest', data=json.dumps(batch).encode(),
                                     headers={'Content-Type': 'application/json'}, method='POST')
    if token:
        request.add_header('Authorization', 'Bearer ' + token)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as e:
        body = e.read().decode('utf-8', 'replace')
        if e.code in (429, 503):  # over the rate, storage unavailable, shutting down
            raise RetryLater(float(e.headers.get('Retry-After', '1')), body)
        if e.code == 409:  # epoch behind the stored one, or a batch after a failed one
            raise RetryLater(1, body)
        raise Refused(e.code, body)  # 400, 401, 403, 413: resending the same bytes cannot help
    except (urllib.error.URLError, OSError) as e:  # unreachable, reset, timed out
        raise RetryLater(1, str(e))


class RetryLater(Exception):
    def __init__(self, seconds, why):
        super().__init__(why)
        self.seconds = seconds


class Refused(Exception):
    def __init__(self, status, why):
        super().__init__('%d %s' % (status, why))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--url', default='http://127.0.0.1:8080')
    p.add_argument('--gateway', required=True)
    p.add_argument('--sensor', action='append', required=True)
    p.add_argument('--token-file')
    p.add_argument('--interval', type=float, default=1.0, help='seconds between readings')
    p.add_argument('--count', type=int, default=0, help='exit once N batches are acknowledged')
    p.add_argument('--max-buffered', type=int, default=100000, help='batches kept while offline')
    args = p.parse_args()
    token = open(args.token_file).read().strip() if args.token_file else ''

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
            buffer.append({'gateway_id': args.gateway, 'epoch': epoch, 'sequence': sequence,
                           'series': read_sensors(args.sensor)})
            if len(buffer) > args.max_buffered:
                lost = buffer.popleft()
                print('buffer full: dropped batch %d' % lost['sequence'], file=sys.stderr)
            next_read = now + args.interval
        while buffer and time.monotonic() >= retry_at:
            batch = buffer[0]
            try:
                ack = send(args.url, token, batch)
            except RetryLater as e:
                print('batch %d not acknowledged (%s); %d buffered, retry in %.1f s'
                      % (batch['sequence'], e, len(buffer), e.seconds), file=sys.stderr)
                retry_at = time.monotonic() + e.seconds
                break
            except Refused as e:
                print('batch %d refused, dropped: %s' % (batch['sequence'], e), file=sys.stderr)
                buffer.popleft()
                continue
            buffer.popleft()
            acknowledged += 1
            print('ack sequence=%d stored=%d duplicate=%s rejected=%d'
                  % (ack['sequence'], ack.get('stored_readings', 0), ack.get('duplicate', False),
                     ack.get('rejected_readings', 0)), flush=True)
            for r in ack.get('rejections', []):
                print('  rejected %s: %s' % (r.get('sensor_id'), r.get('detail')), flush=True)
        time.sleep(min(0.1, max(0.0, next_read - time.monotonic())))


if __name__ == '__main__':
    main()
