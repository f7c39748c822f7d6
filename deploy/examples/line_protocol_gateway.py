#!/usr/bin/python3
"""Example gateway: InfluxDB line protocol over HTTP (POST /write, docs/http-ingest.md).

Line protocol carries no sequence: the server dedupes by (sensor, millisecond), so the contract
is to keep each body until it is acknowledged (204, or 400 "partial write": the good lines were
stored) and to resend the very same lines, timestamps included, while the server is unreachable
or busy. A resent body stores nothing twice. With the default sensor-id template
(http.line_protocol.sensor_id: "{measurement}") a line is `<sensor id> value=<v> <ms>`.
The buffer is in memory; a real gateway keeps it on disk.

  line_protocol_gateway.py --url http://127.0.0.1:8080 --gateway gw-1 --sensor s-1
      [--token-file FILE] [--interval 1] [--count N]

Python 3 standard library only (Debian's /usr/bin/python3).
"""
import argparse
import collections
import random
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def read_sensors(sensors):
    """Stands in for the field bus: one line per sensor, now (ms precision)."""
    now_ms = int(time.time() * 1000)
    return ''.join('%s value=%s %d\n' % (s, round(20 + random.random(), 3), now_ms)
                   for s in sensors)


def send(url, token, body):
    """POSTs one body. Returns None when it is done with (stored, or partly rejected: the rest is
    stored and resending cannot fix the rejected lines); raises RetryLater to keep it."""
    request = urllib.request.Request(url, data=body.encode(), method='POST',
                                     headers={'Content-Type': 'text/plain; charset=utf-8'})
    if token:
        request.add_header('Authorization', 'Token ' + token)  # what InfluxDB 2.x clients send
    try:
        with urllib.request.urlopen(request, timeout=30):
            return None  # 204: every line stored
    except urllib.error.HTTPError as e:
        text = e.read().decode('utf-8', 'replace')
        if e.code in (429, 503, 409):
            raise RetryLater(float(e.headers.get('Retry-After', '1')), '%d %s' % (e.code, text))
        print('body refused (%d), not resent: %s' % (e.code, text), file=sys.stderr)
        return None
    except (urllib.error.URLError, OSError) as e:
        raise RetryLater(1, str(e))


class RetryLater(Exception):
    def __init__(self, seconds, why):
        super().__init__(why)
        self.seconds = seconds


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--url', default='http://127.0.0.1:8080')
    p.add_argument('--gateway', required=True)
    p.add_argument('--sensor', action='append', required=True)
    p.add_argument('--token-file')
    p.add_argument('--interval', type=float, default=1.0, help='seconds between readings')
    p.add_argument('--count', type=int, default=0, help='exit once N bodies are acknowledged')
    p.add_argument('--max-buffered', type=int, default=100000, help='bodies kept while offline')
    args = p.parse_args()
    token = open(args.token_file).read().strip() if args.token_file else ''
    url = args.url + '/write?' + urllib.parse.urlencode({'gateway': args.gateway,
                                                         'precision': 'ms'})

    buffer = collections.deque()  # unacknowledged bodies, oldest first
    made = acknowledged = 0
    next_read = time.monotonic()
    retry_at = 0.0
    while args.count == 0 or acknowledged < args.count:
        now = time.monotonic()
        if now >= next_read and (args.count == 0 or made < args.count):
            buffer.append(read_sensors(args.sensor))
            made += 1
            if len(buffer) > args.max_buffered:
                buffer.popleft()
                print('buffer full: dropped the oldest body', file=sys.stderr)
            next_read = now + args.interval
        while buffer and time.monotonic() >= retry_at:
            try:
                send(url, token, buffer[0])
            except RetryLater as e:
                print('not acknowledged (%s); %d buffered, retry in %.1f s'
                      % (e, len(buffer), e.seconds), file=sys.stderr)
                retry_at = time.monotonic() + e.seconds
                break
            buffer.popleft()
            acknowledged += 1
            print('acknowledged body %d' % acknowledged, flush=True)
        time.sleep(min(0.1, max(0.0, next_read - time.monotonic())))


if __name__ == '__main__':
    main()
