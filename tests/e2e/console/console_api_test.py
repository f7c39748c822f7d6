"""End-to-end tests of the console's HTTP/JSON API and alarm stream against
the real vigild (tests/e2e/console/console_harness.py): authentication (401),
roles (403), region scoping, actions recorded with the signed-in identity,
CSRF refusals, security headers, and the stream's resume by Last-Event-ID
across a vigild restart with no gap and no duplicate.

Run: /usr/bin/python3 console_api_test.py --vigild build/server/vigild
         --assets server/http/console_page
"""

import argparse
import http.client
import sys
import time
import unittest

from console_harness import Vigild, failed, secret

ARGS = None


class ConsoleApi(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.v = Vigild(ARGS.vigild, ARGS.assets)
        cls.v.start()

    @classmethod
    def tearDownClass(cls):
        cls.v.cleanup()

    def tearDown(self):
        if failed(self):
            sys.stderr.write("----- vigild output -----\n" + "".join(self.v.output[-60:]))

    def test_every_api_call_needs_a_token(self):
        for method, path, body in [("GET", "/api/v1/alarms/active", None),
                                   ("GET", "/api/v1/console/session", None),
                                   ("GET", "/api/v1/alarms/detail?alarm_id=1", None),
                                   ("POST", "/api/v1/alarms/acknowledge", {"alarm_id": 1})]:
            status, headers, out = self.v.request(method, path, body=body)
            self.assertEqual(status, 401, path)
            self.assertEqual(out["code"], "UNAUTHENTICATED", path)
            self.assertIn("Bearer", headers.get("www-authenticate", ""))
        status, _, out = self.v.request("GET", "/api/v1/alarms/active", token="not-a-token")
        self.assertEqual((status, out["code"]), (401, "UNAUTHENTICATED"))
        stream = self.v.stream(None)
        self.assertEqual(stream.status, 401)
        stream.close()
        # A gateway's token is no command center's.
        status, _, out = self.v.request("GET", "/api/v1/alarms/active", token=secret("gw-1"))
        self.assertEqual((status, out["code"]), (403, "PERMISSION_DENIED"))

    def test_session_says_who_signed_in(self):
        status, _, out = self.v.request("GET", "/api/v1/console/session",
                                        token=secret("shandong-viewer"))
        self.assertEqual(status, 200)
        self.assertEqual(out["identity"], "shandong-viewer")
        self.assertEqual(out["role"], "viewer")
        self.assertFalse(out["may_act"])
        self.assertEqual(out["region_prefix"], "37")
        self.assertEqual(out["max_shelve_ms"], 2 * 3600 * 1000)

    def test_viewer_sees_but_may_not_act_and_regions_are_kept_apart(self):
        v = self.v
        v.ingest("gw-1", "s-1", 61.5)  # H (orange) in Shandong
        v.ingest("gw-9", "m-1", 1.2)  # H (orange) in Shanxi
        alarm = v.wait_alarm(secret("shandong-viewer"), "s-1")
        self.assertEqual(alarm["enterprise_name"], "Plant One")
        self.assertEqual(alarm["sensor_unit"], "degC")
        self.assertEqual(alarm["sensor_quantity"], "temperature")
        self.assertEqual(alarm["severity_name"], "orange")
        self.assertEqual(alarm["threshold"], 50)
        self.assertEqual(alarm["trigger_value"], 61.5)
        self.assertEqual(alarm["state"], "active_unacked")
        # The viewer of region 37 never sees Shanxi's alarm...
        _, _, body = v.active(secret("shandong-viewer"))
        self.assertEqual({a["region_code"][:2] for a in body["alarms"]}, {"37"})
        # ...nor may it ask for region 14 or read a Shanxi alarm's detail.
        status, _, out = v.active(secret("shandong-viewer"), "?region=14")
        self.assertEqual((status, out["code"]), (403, "PERMISSION_DENIED"))
        shanxi = v.wait_alarm(secret("shanxi-op"), "m-1")
        status, _, out = v.request("GET", "/api/v1/alarms/detail?alarm_id=%d" % shanxi["alarm_id"],
                                   token=secret("shandong-viewer"))
        self.assertEqual((status, out["code"]), (404, "NOT_FOUND"))
        # A viewer may not acknowledge.
        status, _, out = v.request("POST", "/api/v1/alarms/acknowledge",
                                   token=secret("shandong-viewer"),
                                   body={"alarm_id": alarm["alarm_id"]})
        self.assertEqual((status, out["code"]), (403, "PERMISSION_DENIED"))
        # Shanxi's operator cannot act on Shandong's alarm: answered as not open.
        status, _, out = v.request("POST", "/api/v1/alarms/acknowledge", token=secret("shanxi-op"),
                                   body={"alarm_id": alarm["alarm_id"]})
        self.assertEqual((status, out["code"]), (404, "NOT_FOUND"))
        _, _, body = v.active(secret("jinan-op"))
        still = [a for a in body["alarms"] if a["alarm_id"] == alarm["alarm_id"]]
        self.assertEqual(still[0]["state"], "active_unacked")

    def test_operator_acknowledges_and_shelves_as_itself(self):
        v = self.v
        v.ingest("gw-1", "s-2", 85.0)  # HH (red)
        alarm = v.wait_alarm(secret("jinan-op"), "s-2")
        self.assertEqual(alarm["severity_name"], "red")
        status, _, out = v.request("POST", "/api/v1/alarms/acknowledge", token=secret("jinan-op"),
                                   body={"alarm_id": alarm["alarm_id"], "comment": "on it",
                                         "operator_id": "Officer Li"})
        self.assertEqual(status, 200, out)
        self.assertEqual(out["event"]["kind"], "acknowledged")
        self.assertEqual(out["event"]["actor"], "jinan-op")  # the token, not the typed name
        self.assertEqual(out["event"]["comment"], "by Officer Li: on it")
        # Shelving is bounded by alarms.max_shelve (2h here) and needs a reason.
        for body in [{"alarm_id": alarm["alarm_id"], "reason": "x", "duration_ms": 3 * 3600000},
                     {"alarm_id": alarm["alarm_id"], "duration_ms": 60000}]:
            status, _, out = v.request("POST", "/api/v1/alarms/shelve", token=secret("jinan-op"),
                                       body=body)
            self.assertEqual((status, out["code"]), (400, "INVALID_ARGUMENT"), body)
        status, _, out = v.request("POST", "/api/v1/alarms/shelve", token=secret("jinan-op"),
                                   body={"alarm_id": alarm["alarm_id"], "reason": "maintenance",
                                         "duration_ms": 600000})
        self.assertEqual(status, 200, out)
        status, _, detail = v.request("GET", "/api/v1/alarms/detail?alarm_id=%d" % alarm["alarm_id"],
                                      token=secret("shandong-viewer"))
        self.assertEqual(status, 200)
        kinds = [(e["kind"], e.get("actor", "")) for e in detail["history"]]
        self.assertEqual(kinds, [("raised", ""), ("acknowledged", "jinan-op"),
                                 ("shelved", "jinan-op")])
        self.assertEqual(detail["history"][2]["comment"], "maintenance")
        self.assertGreater(detail["alarm"]["shelved_until_ms"], time.time() * 1000)

    def test_readings_for_the_trend_raw_or_downsampled_within_the_region(self):
        v = self.v
        base = int(time.time() * 1000) - 3600_000
        for i in range(30):
            v.ingest("gw-1", "s-3", 20.0 + i, at_ms=base + i * 60_000)
        path = "/api/v1/sensors/readings?sensor_id=s-3&from_ms=%d&to_ms=%d" % (base, base + 1800_000)
        status, _, raw = v.request("GET", path + "&max_points=100", token=secret("shandong-viewer"))
        self.assertEqual(status, 200, raw)
        self.assertEqual(raw["mode"], "raw")
        self.assertEqual(raw["sensor_unit"], "degC")
        self.assertEqual(raw["points"][:2], [[base, 20.0], [base + 60_000, 21.0]])
        # The levels of the sensor's rule in force, for the plot's lines.
        self.assertEqual(raw["rule_id"], "temperature-high")
        self.assertEqual([(l["level"], l["value"], l["severity_name"]) for l in raw["levels"]],
                         [("HH", 80, "red"), ("H", 50, "orange")])
        self.assertEqual(len(raw["points"]), 30)
        # More readings than max_points: steps of min, avg, max instead.
        status, _, down = v.request("GET", path + "&max_points=5", token=secret("shandong-viewer"))
        self.assertEqual(status, 200, down)
        self.assertEqual(down["mode"], "downsampled")
        self.assertLessEqual(len(down["points"]), 5)
        first = down["points"][0]
        self.assertEqual(first[1], 20.0)  # min of the first step
        self.assertLessEqual(first[1], first[2])
        self.assertLessEqual(first[2], first[3])
        # Another region's sensor, an unknown one, a bad range.
        other = "/api/v1/sensors/readings?sensor_id=m-1&from_ms=%d&to_ms=%d" % (base, base + 1)
        status, _, out = v.request("GET", other, token=secret("shandong-viewer"))
        self.assertEqual((status, out["code"]), (403, "PERMISSION_DENIED"))
        status, _, out = v.request("GET", other.replace("m-1", "nope"), token=secret("national"))
        self.assertEqual((status, out["code"]), (404, "NOT_FOUND"))
        status, _, out = v.request("GET", path.replace("from_ms=", "from_ms=x"),
                                   token=secret("national"))
        self.assertEqual(status, 400)
        status, _, _ = v.request("GET", path)
        self.assertEqual(status, 401)

    def test_enterprise_view_latest_values_stale_and_alarms_within_the_region(self):
        v = self.v
        v.ingest("gw-1", "s-4", 66.0)
        v.wait_alarm(secret("shandong-viewer"), "s-4")
        status, _, out = v.request("GET", "/api/v1/enterprises", token=secret("shandong-viewer"))
        self.assertEqual(status, 200, out)
        self.assertEqual([e["enterprise_id"] for e in out["enterprises"]], ["e-1"])
        self.assertEqual(out["enterprises"][0]["name"], "Plant One")
        self.assertGreaterEqual(out["enterprises"][0]["open_alarms"], 1)
        status, _, out = v.request("GET", "/api/v1/enterprises/latest?enterprise_id=e-1",
                                   token=secret("shandong-viewer"))
        self.assertEqual(status, 200, out)
        self.assertEqual(out["enterprise"]["name"], "Plant One")
        by_id = {s["sensor_id"]: s for s in out["sensors"]}
        self.assertEqual(sorted(by_id), ["s-1", "s-2", "s-3", "s-4"])
        s1 = by_id["s-4"]
        self.assertEqual((s1["value"], s1["unit"], s1["stale"]), (66.0, "degC", False))
        self.assertIn("H", [a["level"] for a in s1["alarms"]])
        self.assertEqual(s1["alarms"][0]["severity_name"], "orange")
        status, _, out = v.request("GET", "/api/v1/enterprises/latest?enterprise_id=e-9",
                                   token=secret("shandong-viewer"))
        self.assertEqual((status, out["code"]), (403, "PERMISSION_DENIED"))
        status, _, out = v.request("GET", "/api/v1/enterprises", token=secret("shanxi-op"))
        self.assertEqual([e["enterprise_id"] for e in out["enterprises"]], ["e-9"])

    def test_kpis_of_the_tokens_own_region_at_every_level(self):
        v = self.v
        v.ingest("gw-9", "m-1", 1.4)
        v.wait_alarm(secret("shanxi-op"), "m-1")
        deadline = time.time() + 10
        while True:  # the KPI thread follows the feed
            status, _, out = v.request("GET", "/api/v1/kpis", token=secret("shanxi-op"))
            self.assertEqual(status, 200, out)
            if out["regions"] and out["regions"][0]["raised_10m"] >= 1:
                break
            self.assertLess(time.time(), deadline, out)
            time.sleep(0.05)
        self.assertEqual([(r["region"], r["level"]) for r in out["regions"]], [("14", "province")])
        self.assertFalse(out["regions"][0]["flood"])
        for key in ("chattering", "stale", "shelved"):
            self.assertIn(key, out["regions"][0])
        raised = out["regions"][0]["raised_10m"]
        # A city's and a county's viewer see their own region's load (here all
        # of Shanxi's alarms are in county 140202), and nothing of another.
        for name, region, level in (("datong-viewer", "1402", "city"),
                                    ("chengqu-viewer", "140202", "county")):
            status, _, out = v.request("GET", "/api/v1/kpis", token=secret(name))
            self.assertEqual(status, 200, out)
            self.assertEqual([(r["region"], r["level"]) for r in out["regions"]],
                             [(region, level)], name)
            self.assertEqual(out["regions"][0]["raised_10m"], raised, name)
        _, _, out = v.request("GET", "/api/v1/kpis", token=secret("shandong-viewer"))
        self.assertNotIn("14", [r["region"] for r in out["regions"]])
        _, _, out = v.request("GET", "/api/v1/kpis", token=secret("national"))
        self.assertIn("14", [r["region"] for r in out["regions"]])
        self.assertEqual({r["level"] for r in out["regions"]}, {"province"})
        status, _, _ = v.request("GET", "/api/v1/kpis")
        self.assertEqual(status, 401)

    def test_actions_refuse_what_a_cross_site_page_could_send(self):
        v = self.v
        v.ingest("gw-1", "s-3", 55.0)
        alarm = v.wait_alarm(secret("jinan-op"), "s-3")
        # A form post (not JSON) and a request the browser marks cross-site.
        status, _, out = v.request("POST", "/api/v1/alarms/acknowledge", token=secret("jinan-op"),
                                   body="alarm_id=%d" % alarm["alarm_id"],
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 400, out)
        status, _, out = v.request("POST", "/api/v1/alarms/acknowledge", token=secret("jinan-op"),
                                   body={"alarm_id": alarm["alarm_id"]},
                                   headers={"Sec-Fetch-Site": "cross-site"})
        self.assertEqual((status, out["code"]), (403, "PERMISSION_DENIED"))
        for body in ["{", "[]", '{"alarm_id": "1"}', '{"alarm_id": -1}']:
            status, _, out = v.request("POST", "/api/v1/alarms/acknowledge",
                                       token=secret("jinan-op"), body=body)
            self.assertEqual(status, 400, body)

    def test_page_and_answers_carry_security_headers(self):
        status, headers, body = self.v.request("GET", "/")
        self.assertEqual(status, 200)
        self.assertIn("<title>", body)
        csp = headers["content-security-policy"]
        self.assertIn("default-src 'none'", csp)
        self.assertIn("script-src 'self'", csp)
        self.assertIn("frame-ancestors 'none'", csp)
        self.assertEqual(headers["x-content-type-options"], "nosniff")
        self.assertEqual(headers["referrer-policy"], "no-referrer")
        status, headers, _ = self.v.request("GET", "/console.js")
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("text/javascript"))
        status, headers, _ = self.v.active(secret("jinan-op"))
        self.assertEqual(headers["cache-control"], "no-store")
        self.assertIn("content-security-policy", headers)
        status, _, _ = self.v.request("GET", "/../config.yaml")
        self.assertEqual(status, 404)


class ConsoleStream(unittest.TestCase):
    """The alarm stream across a vigild restart: its own vigild."""

    def setUp(self):
        self.v = Vigild(ARGS.vigild, ARGS.assets)
        self.v.start()

    def tearDown(self):
        if failed(self):
            sys.stderr.write("----- vigild output -----\n" + "".join(self.v.output[-60:]))
        self.v.cleanup()

    def collect(self, stream, count, timeout=10):
        """`count` alarm events: [(id, event)]."""
        out = []
        deadline = time.time() + timeout
        while len(out) < count:
            message = stream.next_event(max(0.1, deadline - time.time()))
            self.assertIsNotNone(message, "stream ended after %r" % out)
            self.assertEqual(message[0], "alarm", message)
            out.append((message[1], message[2]))
        return out

    def test_resume_by_last_event_id_across_a_restart_has_no_gap_and_no_duplicate(self):
        v = self.v
        national = secret("national")
        stream = v.stream(national)
        self.assertEqual(stream.status, 200)
        self.assertTrue(stream.headers["content-type"].startswith("text/event-stream"))
        event, snapshot_id, snapshot = stream.next_event()
        self.assertEqual(event, "snapshot")
        self.assertEqual(snapshot["alarms"], [])
        v.ingest("gw-1", "s-1", 60.0)                      # raised
        v.ingest("gw-9", "m-1", 1.5)                       # raised (another region)
        seen = self.collect(stream, 2)
        self.assertEqual([e["kind"] for _, e in seen], ["raised", "raised"])
        self.assertEqual([i for i, _ in seen], [e["seq"] for _, e in seen])
        last_id = seen[-1][0]
        stream.close()
        # Events while the page is away, then a restart, then more events.
        v.ingest("gw-1", "s-1", 40.0)                      # cleared
        v.ingest("gw-1", "s-2", 90.0)                      # raised
        v.stop()
        v.start()
        v.ingest("gw-9", "m-1", 0.5)                       # cleared
        resumed = v.stream(national, last_event_id=last_id)
        self.assertEqual(resumed.status, 200)
        after = self.collect(resumed, 3)
        ids = [i for i, _ in after]
        self.assertEqual(ids, list(range(last_id + 1, last_id + 4)),
                         "the ids after Last-Event-ID %d: %r" % (last_id, after))
        got = [(e["kind"], e["alarm"]["sensor_id"]) for _, e in after]
        # s-1 and s-2 may be on different shards: either may be journaled first.
        self.assertEqual(sorted(got[:2]), [("cleared", "s-1"), ("raised", "s-2")], got)
        self.assertEqual(got[2], ("cleared", "m-1"), got)
        # Nothing more, only heartbeats.
        message = resumed.next(2)
        self.assertEqual(message[0], "heartbeat", message)
        self.assertEqual(message[2]["seq"], ids[-1])
        resumed.close()
        # A page that saw it all resumes with nothing to send; one whose
        # Last-Event-ID lies ahead of the journal is told to resynchronize.
        again = v.stream(national, last_event_id=ids[-1])
        self.assertEqual(again.next(2)[0], "heartbeat")
        again.close()
        ahead = v.stream(national, last_event_id=ids[-1] + 100)
        self.assertEqual(ahead.next_event()[0], "resync")
        self.assertIsNone(ahead.next(5))
        ahead.close()

    def test_streams_count_against_the_identitys_subscription_limit(self):
        # limits.subscriptions_per_identity is 3 in this test's config.
        v = self.v
        streams = [v.stream(secret("shanxi-op")) for _ in range(3)]
        self.assertEqual([s.status for s in streams], [200, 200, 200])
        for s in streams:
            self.assertEqual(s.next_event()[0], "snapshot")
        refused = v.stream(secret("shanxi-op"))
        self.assertEqual(refused.status, 429)
        refused.close()
        other = v.stream(secret("national"))  # another identity is not affected
        self.assertEqual(other.status, 200)
        other.close()
        streams.pop().close()  # a page closed: its slot is free again
        deadline = time.time() + 5
        while True:
            again = v.stream(secret("shanxi-op"))
            if again.status == 200 or time.time() > deadline:
                break
            again.close()
            time.sleep(0.05)
        self.assertEqual(again.status, 200)
        again.close()
        for s in streams:
            s.close()

    def test_stream_is_scoped_to_the_region(self):
        v = self.v
        stream = v.stream(secret("shandong-viewer"))
        self.assertEqual(stream.next_event()[0], "snapshot")
        v.ingest("gw-9", "m-1", 1.5)  # Shanxi: not for Shandong
        v.ingest("gw-1", "s-1", 60.0)
        event, ident, payload = stream.next_event()
        self.assertEqual((event, payload["alarm"]["sensor_id"]), ("alarm", "s-1"))
        stream.close()
        refused = v.stream(secret("shandong-viewer"), query="?region=14")
        self.assertEqual(refused.status, 403)
        refused.close()

    def test_metrics_count_requests_streams_events_and_failed_sign_ins(self):
        v = self.v

        def scrape():
            conn = http.client.HTTPConnection(*v.metrics.rsplit(":", 1), timeout=10)
            conn.request("GET", "/metrics")
            text = conn.getresponse().read().decode()
            conn.close()
            values = {}
            for line in text.splitlines():
                if line.startswith("vigil_console_"):
                    name, value = line.rsplit(" ", 1)
                    values[name] = float(value)
            return values

        session_ok = 'vigil_console_requests_total{route="/api/v1/console/session",code="2xx"}'
        before = scrape()
        self.assertEqual(v.request("GET", "/api/v1/console/session",
                                   token=secret("national"))[0], 200)
        self.assertEqual(v.request("GET", "/api/v1/console/session", token="wrong")[0], 401)
        self.assertEqual(v.request("GET", "/nowhere", token=secret("national"))[0], 404)
        stream = v.stream(secret("jinan-op"))
        self.assertEqual(stream.next_event()[0], "snapshot")
        v.ingest("gw-1", "s-4", 55.0)  # raised (H), or escalated below
        v.ingest("gw-1", "s-4", 85.0)
        while stream.next_event()[0] != "alarm":
            pass
        # A counter moves once the server finished writing the answer or the
        # event, which can be just after the client has read it: wait for it.
        def settled(values):
            return (values.get('vigil_console_requests_total{route="other",code="4xx"}', 0) >= 1
                    and values["vigil_console_events_sent_total"]
                    > before["vigil_console_events_sent_total"]
                    and values.get(session_ok, 0) > before.get(session_ok, 0)
                    and values["vigil_console_signin_failures_total"]
                    > before["vigil_console_signin_failures_total"])
        deadline = time.time() + 10
        after = scrape()
        while not settled(after) and time.time() < deadline:
            time.sleep(0.05)
            after = scrape()
        self.assertEqual(after[session_ok] - before.get(session_ok, 0), 1)
        self.assertGreaterEqual(
            after['vigil_console_requests_total{route="other",code="4xx"}'], 1)
        self.assertEqual(after["vigil_console_signin_failures_total"]
                         - before["vigil_console_signin_failures_total"], 1)
        self.assertEqual(after["vigil_console_streams_open"], before["vigil_console_streams_open"] + 1)
        self.assertGreaterEqual(after["vigil_console_events_sent_total"]
                                - before["vigil_console_events_sent_total"], 1)
        stream.close()
        deadline = time.time() + 10
        while scrape()["vigil_console_streams_open"] != before["vigil_console_streams_open"]:
            self.assertLess(time.time(), deadline)
            time.sleep(0.05)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--vigild", required=True)
    parser.add_argument("--assets", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
