"""Browser smoke tests of the web console: Debian's headless Chromium driven by
python3-selenium and chromium-driver, against the real vigild. Signs in as a
region-37 operator, raises an alarm with a reading and waits for it to appear
in the live list (the time it took is printed as a figure), acknowledges it
from the page and sees its state change, the journal entry and the trend.
Across a vigild restart the page says it is disconnected, then resumes with
no gap and no duplicate. Writes screenshots of the list, the detail view and
the page after the restart into --screenshots (not committed).

Run: /usr/bin/python3 console_browser_test.py --vigild build/server/vigild
         --assets server/http/console_page --screenshots build/console-screenshots
"""

import argparse
import os
import socket
import sys
import time
import unittest

from console_harness import Vigild, failed, secret

ARGS = None


def make_driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--window-size=1400,900"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


class ConsoleInBrowser(unittest.TestCase):
    def setUp(self):
        self.v = Vigild(ARGS.vigild, ARGS.assets)
        self.v.start()
        self.driver = make_driver()
        self.driver.set_page_load_timeout(30)
        os.makedirs(ARGS.screenshots, exist_ok=True)

    def tearDown(self):
        if failed(self):
            sys.stderr.write("----- vigild output -----\n" + "".join(self.v.output[-60:]))
            for entry in self.driver.get_log("browser"):
                sys.stderr.write("browser: %r\n" % entry)
        self.driver.quit()
        self.v.cleanup()

    def wait(self, what, condition, timeout=10):
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.support.ui import WebDriverWait
        # The list is re-rendered on every event: an element found a moment
        # ago may be gone; look again.
        return WebDriverWait(self.driver, timeout, poll_frequency=0.02,
                             ignored_exceptions=[StaleElementReferenceException]).until(
            lambda d: condition(d), message=what)

    def test_sign_in_see_an_alarm_appear_live_and_acknowledge_it(self):
        from selenium.webdriver.common.by import By

        d = self.driver
        d.get("http://%s/" % self.v.console)
        d.find_element(By.ID, "token").send_keys(secret("jinan-op"))
        d.find_element(By.CSS_SELECTOR, "#sign-in-form button[type=submit]").click()
        self.wait("signed in", lambda d: d.find_element(By.ID, "console").is_displayed())
        self.assertIn("jinan-op", d.find_element(By.ID, "who").text)
        self.wait("the stream's snapshot", lambda d: "0 of 0" in d.find_element(By.ID, "count").text)
        self.assertNotIn(secret("jinan-op"), d.current_url)

        self.v.ingest("gw-1", "s-1", 21.0, at_ms=int(time.time() * 1000) - 60_000)  # normal
        sent = time.time()
        self.v.ingest("gw-1", "s-1", 85.5)  # HH: red
        self.wait("the alarm row", lambda d: d.find_elements(By.CSS_SELECTOR, "#alarms tbody tr"))
        appeared = time.time() - sent
        row = d.find_element(By.CSS_SELECTOR, "#alarms tbody tr")
        print("console_alarm_to_screen %.3f s" % appeared)
        self.assertLess(appeared, 1.0 + 1.0)  # within a second of being journaled (+ ingest)
        self.assertEqual(row.find_element(By.CSS_SELECTOR, ".sev").text, "RED")
        self.assertIn("unacked", row.get_attribute("class"))
        self.assertIn("Plant One", row.text)
        self.assertIn("85.5 degC", row.text)
        self.assertIn("active, unacknowledged", row.text)
        d.save_screenshot(os.path.join(ARGS.screenshots, "console-list.png"))

        row.find_element(By.CSS_SELECTOR, "button.ack").click()
        self.wait("acknowledged", lambda d: "active, acknowledged" in
                  d.find_element(By.CSS_SELECTOR, "#alarms tbody tr td.state").text)
        row = d.find_element(By.CSS_SELECTOR, "#alarms tbody tr")
        self.assertNotIn("unacked", row.get_attribute("class"))

        # The detail view: the journal names the signed-in identity.
        row.find_element(By.XPATH, ".//button[text()='Detail']").click()
        self.wait("history", lambda d: "acknowledged" in d.find_element(By.ID, "d-history").text)
        self.assertIn("jinan-op", d.find_element(By.ID, "d-history").text)
        # The trend: the readings around the alarm, drawn by dygraphs, with
        # the rule's levels across: HH at 80 (reached) and H at 50 (not).
        trend = self.wait("the trend plot", lambda d: d.find_element(By.ID, "d-trend")
                          if d.find_element(By.ID, "d-trend").get_attribute("data-points") else None)
        self.assertEqual(trend.get_attribute("data-points"), "2")
        self.assertEqual(trend.get_attribute("data-levels"), "HH,H")
        self.assertEqual(trend.get_attribute("data-reached"), "HH")
        self.assertTrue(trend.find_elements(By.TAG_NAME, "canvas"))
        self.assertIn("alarm levels HH, H (reached: HH)",
                      d.find_element(By.ID, "d-trend-note").text)
        d.save_screenshot(os.path.join(ARGS.screenshots, "console-detail.png"))
        d.find_element(By.ID, "d-close").click()

        # The enterprise view: latest values with units; sensors without
        # readings marked stale; the open alarm on s-1.
        d.find_element(By.ID, "show-enterprises").click()
        self.wait("the sensors", lambda d: len(d.find_elements(By.CSS_SELECTOR, "#e-sensors tbody tr")) == 4)
        rows = {r.get_attribute("data-sensor-id"): r
                for r in d.find_elements(By.CSS_SELECTOR, "#e-sensors tbody tr")}
        self.assertIn("85.5 degC", rows["s-1"].text)
        self.assertIn("RED", rows["s-1"].text)
        self.assertIn("STALE", rows["s-2"].text)
        self.assertIn("stale", rows["s-2"].get_attribute("class"))
        self.assertIn("Plant One", d.find_element(By.ID, "e-select").text)
        d.save_screenshot(os.path.join(ARGS.screenshots, "console-enterprise.png"))


class ConsoleAcrossRestart(unittest.TestCase):
    """The page keeps its place when vigild restarts: its own vigild on a
    fixed console port (the page reconnects to the address it was loaded from)."""

    def setUp(self):
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        self.v = Vigild(ARGS.vigild, ARGS.assets, console_listen="127.0.0.1:%d" % port)
        self.v.start()
        self.driver = make_driver()
        os.makedirs(ARGS.screenshots, exist_ok=True)

    def tearDown(self):
        if failed(self):
            sys.stderr.write("----- vigild output -----\n" + "".join(self.v.output[-60:]))
        self.driver.quit()
        self.v.cleanup()

    def test_the_page_says_it_is_disconnected_and_resumes_with_no_gap_or_duplicate(self):
        from selenium.webdriver.common.by import By

        d = self.driver
        wait = ConsoleInBrowser.wait.__get__(self)
        d.get("http://%s/" % self.v.console)
        d.find_element(By.ID, "token").send_keys(secret("national"))
        d.find_element(By.CSS_SELECTOR, "#sign-in-form button[type=submit]").click()
        wait("the snapshot", lambda d: "0 of 0" in d.find_element(By.ID, "count").text)
        self.v.ingest("gw-1", "s-1", 60.0)  # raised
        self.v.ingest("gw-1", "s-2", 60.0)  # raised
        wait("two alarms", lambda d: "2 of 2" in d.find_element(By.ID, "count").text)
        self.v.stop()
        banner = wait("the banner", lambda d: d.find_element(By.ID, "banner")
                      if d.find_element(By.ID, "banner").is_displayed() else None)
        self.assertIn("Disconnected", banner.text)
        self.v.start()
        # Journaled right after the restart, before or while the page comes back.
        self.v.ingest("gw-1", "s-1", 40.0)  # cleared
        self.v.ingest("gw-1", "s-3", 90.0)  # raised
        wait("resumed", lambda d: not d.find_element(By.ID, "banner").is_displayed()
             and d.find_element(By.TAG_NAME, "body").get_attribute("data-last-seq") == "4",
             timeout=15)
        body = d.find_element(By.TAG_NAME, "body")
        self.assertEqual(body.get_attribute("data-snapshot-seq"), "0")  # no new snapshot
        self.assertEqual(body.get_attribute("data-events"), "4")  # seq 1..4, each once
        rows = d.find_elements(By.CSS_SELECTOR, "#alarms tbody tr")
        self.assertEqual(len(rows), 3)  # s-1 cleared (unacknowledged still listed), s-2, s-3
        d.save_screenshot(os.path.join(ARGS.screenshots, "console-after-restart.png"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--vigild", required=True)
    parser.add_argument("--assets", required=True)
    parser.add_argument("--screenshots", default="console-screenshots")
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
