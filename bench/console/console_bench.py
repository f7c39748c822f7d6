"""Figures of the web console in Debian's headless Chromium (reported, not
asserted; issue 25): the first render of a region with 1,000 open alarms,
and the time from an alarm's journaling (its reading acknowledged as stored)
to its row on screen while alarms are raised at 100 per second; with
--hold-seconds, the page's JS heap while alarms of --hold-sensors sensors are
raised and cleared in turn at --hold-rate events per second for that long
(memory after an hour of events: --hold-seconds 3600), sampled every minute.

    /usr/bin/python3 bench/console/console_bench.py --vigild build/server/vigild \\
        --assets server/http/console_page [--alarms 1000] [--rate 100] [--seconds 10] \\
        [--hold-seconds 0] [--hold-rate 20] [--hold-sensors 200]
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "e2e", "console"))
from console_harness import Vigild, secret  # noqa: E402
from console_browser_test import make_driver  # noqa: E402


def registry(sensors):
    lines = ["enterprises:",
             '  - { id: e-1, name: Plant One, kind: hazardous_chemical, region_code: "370105" }',
             "sensors:"]
    lines += ["  - { id: t-%d, enterprise: e-1, quantity: temperature, unit: degC }" % i
              for i in range(sensors)]
    lines += ["gateways:", "  - { id: gw-1, enterprise: e-1 }", "  - { id: gw-9, enterprise: e-1 }"]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--vigild", required=True)
    parser.add_argument("--assets", required=True)
    parser.add_argument("--alarms", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--hold-seconds", type=int, default=0)
    parser.add_argument("--hold-rate", type=int, default=20)
    parser.add_argument("--hold-sensors", type=int, default=200)
    args = parser.parse_args()
    live = args.rate * args.seconds
    v = Vigild(args.vigild, args.assets,
               registry=registry(args.alarms + live + args.hold_sensors))
    v.start()
    driver = make_driver()
    try:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        # 1,000 open alarms, then the page's first render of them.
        for start in range(0, args.alarms, 500):
            v.ingest_many("gw-1", {"t-%d" % i: 60.0 for i in range(start, min(start + 500, args.alarms))})
        v.wait_alarm(secret("jinan-op"), "t-%d" % (args.alarms - 1))
        driver.get("http://%s/" % v.console)
        driver.find_element(By.ID, "token").send_keys(secret("jinan-op"))
        began = time.time()
        driver.find_element(By.CSS_SELECTOR, "#sign-in-form button[type=submit]").click()
        WebDriverWait(driver, 60, poll_frequency=0.01).until(
            lambda d: d.find_element(By.ID, "count").text.startswith("%d of" % args.alarms))
        print("console_first_render_alarms %d" % args.alarms)
        print("console_first_render_seconds %.3f" % (time.time() - began))

        # Record when each alarm's row first shows (the browser's clock is ours).
        driver.execute_script("""
          window.__seen = {};
          new MutationObserver(() => {
            for (const tr of document.querySelectorAll('#alarms tbody tr')) {
              if (!(tr.dataset.alarmId in window.__seen)) window.__seen[tr.dataset.alarmId] = Date.now();
            }
          }).observe(document.querySelector('#alarms tbody'), {childList: true});""")
        sent = {}  # sensor -> ms when its reading was acknowledged as stored
        interval = 1.0 / args.rate
        next_at = began_live = time.time()
        for i in range(args.alarms, args.alarms + live):
            sensor = "t-%d" % i
            v.ingest("gw-9", sensor, 60.0)
            sent[sensor] = time.time() * 1000
            next_at += interval
            time.sleep(max(0.0, next_at - time.time()))
        elapsed = time.time() - began_live
        time.sleep(2)
        ids = {a["sensor_id"]: a["alarm_id"] for a in v.active(secret("jinan-op"))[2]["alarms"]}
        seen = driver.execute_script("return window.__seen;")
        delays = sorted(seen[str(ids[s])] - t for s, t in sent.items() if str(ids.get(s)) in seen)
        print("console_live_alarms_sent %d" % len(sent))
        print("console_live_alarms_shown %d" % len(delays))
        print("console_live_rate_per_second %.1f" % (len(sent) / elapsed))
        if delays:
            print("console_journal_to_screen_p50_ms %.0f" % statistics.median(delays))
            print("console_journal_to_screen_p99_ms %.0f" % delays[int(len(delays) * 0.99) - 1])
            print("console_journal_to_screen_max_ms %.0f" % delays[-1])
        heap = "return performance.memory ? performance.memory.usedJSHeapSize : 0"
        print("console_page_js_heap_bytes %d" % driver.execute_script(heap))

        # Memory over a long run: the same sensors raised and cleared in turn,
        # so the open list stays bounded and any growth is the page's own.
        if args.hold_seconds > 0:
            first = args.alarms + live
            interval = 1.0 / args.hold_rate
            began_hold = next_at = time.time()
            next_sample = began_hold
            events = 0
            while time.time() - began_hold < args.hold_seconds:
                k = events % args.hold_sensors
                value = 60.0 if (events // args.hold_sensors) % 2 == 0 else 20.0
                v.ingest("gw-9", "t-%d" % (first + k), value)
                events += 1
                if time.time() >= next_sample:
                    print("console_hold_js_heap_bytes_at_%ds %d B"
                          % (round(time.time() - began_hold), driver.execute_script(heap)),
                          flush=True)
                    next_sample += 60
                next_at += interval
                time.sleep(max(0.0, next_at - time.time()))
            print("console_hold_events %d" % events)
            print("console_hold_seconds %d s" % round(time.time() - began_hold))
            print("console_hold_js_heap_bytes_end %d B" % driver.execute_script(heap))
    finally:
        driver.quit()
        v.cleanup()


if __name__ == "__main__":
    main()
