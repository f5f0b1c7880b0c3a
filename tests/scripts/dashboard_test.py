#!/usr/bin/python3
"""The dashboard in a headless Chromium (Selenium); started by
dashboard_test.sh, which runs the cluster, the receiver and makes the tenant.

Every wait is a WebDriverWait on a condition; the page refreshes itself
every 2 s. Values are read in one script call per poll (the page replaces
its table rows on every refresh, so element handles go stale quickly).
Prints PASS/FAIL lines; exit status 0 only if every check passed. On a
failure: dashboard-failure.png and dashboard-console.log in --artifacts.
Screenshots of a pass: dashboard.png (the top of the page at the end),
dashboard-full.png (all of it), dashboard-load.png (during the load),
dashboard-dlq.png (the dead letter listed, before its Retry).
"""

import argparse
import http.client
import json
import os
import subprocess
import sys
import time
import urllib.parse

from selenium import webdriver
from selenium.common.exceptions import (StaleElementReferenceException,
                                        TimeoutException, WebDriverException)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

NODES = ["node1", "node2", "node3"]
WORKERS = ["node2", "node3"]
LOAD_RATE = 200      # notifications per second
LOAD_SECONDS = 12


class Failed(Exception):
    pass


def log(msg):
    print("dashboard_test: " + msg, flush=True)


def passed(msg):
    print("PASS: " + msg, flush=True)


# --- HTTP to the node and the receiver -----------------------------------------------

def request(base, method, path, token=None, body=None, timeout=10):
    """(status, parsed JSON or None); a body is always sent with POST/PUT."""
    u = urllib.parse.urlsplit(base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    headers = {}
    if token:
        headers["Authorization"] = "Bearer " + token
    data = None
    if body is not None or method in ("POST", "PUT"):
        data = json.dumps(body if body is not None else {})
        headers["Content-Type"] = "application/json"
    try:
        c.request(method, path, data, headers)
        r = c.getresponse()
        text = r.read().decode("utf-8", "replace")
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = {"text": text}
        return r.status, parsed
    finally:
        c.close()


def until(what, timeout, fn, poll=0.25):
    """Polls fn() (not the browser) until it returns a true value."""
    try:
        return WebDriverWait(None, timeout, poll_frequency=poll,
                             ignored_exceptions=(OSError, http.client.HTTPException)
                             ).until(lambda _: fn(), what)
    except TimeoutException:
        raise Failed("not within %ss: %s" % (timeout, what))


# --- reading the page ------------------------------------------------------------------

READ_PAGE = r"""
const text = (e) => e ? e.textContent.trim() : null;
const out = {members: {}, rates: {}, actors: [], dlq: [], status: text(document.getElementById("status")),
             board_visible: !document.getElementById("board").classList.contains("hidden"),
             total_accepted: text(document.getElementById("total-accepted")),
             rate_accepted: text(document.getElementById("rate-accepted")),
             rate_delivered: text(document.getElementById("rate-delivered")),
             dlq_note: text(document.getElementById("dlq-note"))};
for (const tr of document.querySelectorAll("#members tbody tr[data-node]"))
  out.members[tr.dataset.node] = [...tr.cells].map((td) => td.textContent.trim());
for (const tr of document.querySelectorAll("#rates tbody tr[data-node]"))
  out.rates[tr.dataset.node] = [...tr.cells].map((td) => td.textContent.trim());
for (const d of document.querySelectorAll("#actors details[data-node]"))
  out.actors.push([d.dataset.node, text(d.querySelector("summary"))]);
out.dlq_rows = {};
for (const tr of document.querySelectorAll("#dlq tbody tr[data-id]")) {
  out.dlq.push(tr.dataset.id);
  out.dlq_rows[tr.dataset.id] = [...tr.cells].map((td) => td.textContent.trim());
}
return out;
"""


def page(driver):
    return driver.execute_script(READ_PAGE)


def number(text):
    """A figure as the page formats it ("1,234", "3.5", "–"); None if none."""
    if text is None:
        return None
    t = text.replace(",", "").strip()
    try:
        return float(t)
    except ValueError:
        return None


# rates row: node, roles, accepted/s, delivered/s, retried/s, dead/s, accepted,
# delivered, takeovers
ACCEPTED_PER_S, DELIVERED_PER_S = 2, 3


def rate_of(p, node, column):
    row = p["rates"].get(node)
    return number(row[column]) if row and len(row) > column else None


# --- the checks -------------------------------------------------------------------------

def check_login(driver, args):
    driver.get(args.admin_url + "/")
    WebDriverWait(driver, 15).until(
        lambda d: d.find_element(By.ID, "token").is_displayed(), "the token prompt")
    if driver.find_element(By.ID, "board").is_displayed():
        raise Failed("the board shows before a token was given")
    passed("the page loads and asks for the admin token")
    field = driver.find_element(By.ID, "token")
    field.send_keys(args.token)
    driver.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
    try:
        WebDriverWait(driver, 15).until(lambda d: d.find_element(By.ID, "board").is_displayed())
    except TimeoutException:
        raise Failed("no board after the token; the login form says %r"
                     % driver.find_element(By.ID, "login-error").text)
    stored = driver.execute_script("return sessionStorage.getItem('herald-admin-token')")
    if stored != args.token:
        raise Failed("the token is not kept in sessionStorage (%r)" % stored)
    passed("the token opens the board and is kept in sessionStorage")


def check_cluster(driver):
    def three_up(d):
        p = page(d)
        states = {n: p["members"][n][2] for n in NODES if n in p["members"]
                  and len(p["members"][n]) > 2}
        nodes = sorted(n for n, _ in p["actors"])
        if (all(states.get(n) == "up" for n in NODES) and nodes == NODES
                and sorted(p["rates"]) == NODES):
            return p
        return False
    try:
        p = WebDriverWait(driver, 40, poll_frequency=0.25).until(three_up)
    except TimeoutException:
        raise Failed("the members table does not show node1..3 up with the actors of "
                     "three nodes: %s" % json.dumps(page(driver)))
    passed("members: %s" % "; ".join("%s %s" % (n, p["members"][n][2]) for n in NODES))
    passed("actors of three nodes: %s" % "; ".join(s for _, s in sorted(p["actors"])))
    passed("rates table has a row for each of %s" % ", ".join(NODES))
    # a whole refresh (all four requests) went through
    try:
        WebDriverWait(driver, 20, poll_frequency=0.2).until(
            lambda d: (page(d)["status"] or "").startswith("updated"))
    except TimeoutException:
        raise Failed("the page status does not say \"updated\": %r" % page(driver)["status"])
    passed("page status: %s" % page(driver)["status"])


def check_load(driver, args):
    cmd = [args.loadgen, "--url=" + args.api_url + "/v1/notifications",
           "--key=" + args.key, "--target=" + args.hook_url,
           "--rate=%d" % LOAD_RATE, "--duration=%ds" % LOAD_SECONDS,
           "--connections=8", "--body=dashboard load", "--quiet"]
    out = open(os.path.join(args.work, "loadgen.log"), "w")
    log("load: %d/s for %d s through node1 (herald-loadgen)" % (LOAD_RATE, LOAD_SECONDS))
    load = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    seen = {"totals": [], "node1_accepted": 0.0, "worker_delivered": {}, "polls": 0}
    try:
        def moving(d):
            if load.poll() is not None:
                raise Failed("the load ended before the page showed it moving: %s"
                             % json.dumps(seen))
            p = page(d)
            seen["polls"] += 1
            total = p["total_accepted"]
            if total not in (None, "–") and (not seen["totals"] or seen["totals"][-1] != total):
                seen["totals"].append(total)
            a = rate_of(p, "node1", ACCEPTED_PER_S)
            if a:
                seen["node1_accepted"] = max(seen["node1_accepted"], a)
            for w in WORKERS:
                r = rate_of(p, w, DELIVERED_PER_S)
                if r:
                    seen["worker_delivered"][w] = max(seen["worker_delivered"].get(w, 0), r)
            # "changes at least twice": three distinct successive values
            return (len(seen["totals"]) >= 3 and seen["node1_accepted"] > 0
                    and seen["worker_delivered"])
        WebDriverWait(driver, LOAD_SECONDS + 5, poll_frequency=0.2).until(moving)
        passed("total accepted changed while the load ran: %s" % " -> ".join(seen["totals"]))
        passed("node1 accepted/s > 0 (up to %s)" % seen["node1_accepted"])
        passed("worker delivered/s > 0 (%s)" % ", ".join(
            "%s up to %s" % kv for kv in sorted(seen["worker_delivered"].items())))
        if load.poll() is not None:
            raise Failed("the load had ended when the checks were met")
        # the tiles once more while the load still runs (a screenshot with figures)
        WebDriverWait(driver, 10, poll_frequency=0.2).until(
            lambda d: (number(page(d)["rate_accepted"]) or 0) > 0
            and (number(page(d)["rate_delivered"]) or 0) > 0)
        driver.save_screenshot(os.path.join(args.artifacts, "dashboard-load.png"))
        p = page(driver)
        passed("cluster tiles: accepted/s %s, delivered/s %s, accepted in all %s"
               " (screenshot dashboard-load.png)"
               % (p["rate_accepted"], p["rate_delivered"], p["total_accepted"]))
    finally:
        if load.poll() is None:
            try:
                load.wait(timeout=LOAD_SECONDS + 30)
            except subprocess.TimeoutExpired:
                load.kill()
                load.wait()
        out.close()
    if load.returncode != 0:
        raise Failed("herald-loadgen exited %s (see %s/loadgen.log)" % (load.returncode, args.work))
    with open(os.path.join(args.work, "loadgen.log")) as f:
        log("herald-loadgen: " + f.read().strip().replace("\n", " | "))


def cluster_totals(args):
    status, body = request(args.admin_url, "GET", "/admin/stats?scope=cluster", args.token)
    if status != 200:
        return None
    items = [x for x in body["items"] if "error" not in x]
    return (sum(x["accepted"] for x in items), sum(x["delivered"] for x in items),
            sum(x["dead_lettered"] for x in items), len(items))


def control(args, settings):
    status, _ = request(args.control_url, "POST", "/control", body=settings)
    if status != 200:
        raise Failed("POST /control %s answered %s" % (settings, status))


def notification_status(args, nid):
    status, body = request(args.api_url, "GET", "/v1/notifications/" + nid, args.key)
    return body.get("status") if status == 200 and body else None


def check_dlq_retry(driver, args):
    # Everything of the load delivered first, so that only one notification
    # meets the failing receiver.
    def drained():
        t = cluster_totals(args)
        return t if t and t[3] == 3 and t[0] > 0 and t[1] >= t[0] else None
    t = until("every accepted notification delivered after the load", 60, drained)
    passed("after the load: %d accepted, %d delivered in the cluster" % (t[0], t[1]))

    control(args, {"fail_rate": 1.0, "fail_status": 400})
    try:
        status, body = request(args.api_url, "POST", "/v1/notifications", args.key,
                               {"channel": "webhook", "to": args.hook_url,
                                "body": "dashboard dead letter"})
        if status != 202:
            raise Failed("POST /v1/notifications answered %s: %s" % (status, body))
        nid = body["id"]
        log("notification %s sent to a receiver that answers 400" % nid)
        until("notification %s dead-lettered" % nid, 30,
              lambda: notification_status(args, nid) == "dead_lettered")
    finally:
        control(args, {"fail_rate": 0.0})
    passed("notification %s dead-lettered (receiver answered 400); receiver healthy again" % nid)

    row = "#dlq tbody tr[data-id='%s']" % nid
    try:
        WebDriverWait(driver, 15, poll_frequency=0.2).until(
            lambda d: nid in page(d)["dlq"])
    except TimeoutException:
        raise Failed("no row tr[data-id=%s] in the DLQ table: %s" % (nid, page(driver)["dlq"]))
    cells = page(driver)["dlq_rows"].get(nid) or []
    # id, tenant, channel, reason, attempts, dead at, buttons
    if len(cells) < 7 or cells[1] != args.tenant or cells[2] != "webhook" or "400" not in cells[3]:
        raise Failed("the DLQ row of %s reads %s" % (nid, cells))
    passed("the DLQ table lists %s: %s" % (nid, " | ".join(cells[1:6])))
    driver.save_screenshot(os.path.join(args.artifacts, "dashboard-dlq.png"))

    # The row is rebuilt on every refresh: find and click in one step, again
    # if it went stale in between.
    def click_retry(d):
        try:
            d.find_element(By.CSS_SELECTOR, row + " button.retry").click()
            return True
        except StaleElementReferenceException:
            return False
    WebDriverWait(driver, 10, poll_frequency=0.1,
                  ignored_exceptions=(StaleElementReferenceException,)).until(click_retry)
    log("clicked Retry of %s" % nid)
    try:
        WebDriverWait(driver, 15, poll_frequency=0.2).until(
            lambda d: nid not in page(d)["dlq"] and (page(d)["dlq_note"] or "") == "retried " + nid)
    except TimeoutException:
        p = page(driver)
        raise Failed("after Retry: row still listed %s, note %r" % (nid in p["dlq"], p["dlq_note"]))
    passed("after Retry the row is gone, the page notes \"retried %s\"" % nid)
    until("notification %s delivered after the retry" % nid, 45,
          lambda: notification_status(args, nid) == "delivered")
    passed("notification %s delivered after the retry from the page" % nid)
    # it stays out of the DLQ table on later refreshes
    before = page(driver)["status"]
    WebDriverWait(driver, 10, poll_frequency=0.2).until(lambda d: page(d)["status"] != before)
    if nid in page(driver)["dlq"]:
        raise Failed("%s is listed in the DLQ again after a refresh" % nid)
    passed("a later refresh does not list %s" % nid)


def make_driver(args):
    opts = webdriver.ChromeOptions()
    opts.binary_location = args.chromium_binary
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000",
              "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
              "--user-data-dir=" + os.path.join(args.work, "chromium-profile")):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=args.chromedriver,
                      log_path=os.path.join(args.work, "chromedriver.log"))
    return webdriver.Chrome(service=service, options=opts)


def real_chromium(path):
    """Debian's /usr/bin/chromium is a shell wrapper around this binary."""
    p = "/usr/lib/chromium/chromium"
    if os.path.realpath(path) == "/usr/bin/chromium" and os.access(p, os.X_OK):
        return p
    return path


def main():
    ap = argparse.ArgumentParser()
    for name in ("admin-url", "api-url", "token", "key", "tenant", "hook-url", "control-url",
                 "loadgen", "chromium", "chromedriver", "artifacts", "work"):
        ap.add_argument("--" + name, required=True)
    args = ap.parse_args()
    args.chromium_binary = real_chromium(args.chromium)
    os.makedirs(args.artifacts, exist_ok=True)
    t0 = time.monotonic()
    driver = None
    ok = False
    try:
        driver = make_driver(args)
        log("chromium %s, chromedriver %s" % (
            driver.capabilities.get("browserVersion"),
            driver.capabilities.get("chrome", {}).get("chromedriverVersion", "?").split(" ")[0]))
        check_login(driver, args)
        check_cluster(driver)
        check_load(driver, args)
        check_dlq_retry(driver, args)
        shot = os.path.join(args.artifacts, "dashboard.png")
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(shot)
        # the whole board as well (the window shows its top 1000 px)
        height, chrome = driver.execute_script(
            "return [document.documentElement.scrollHeight, window.outerHeight - window.innerHeight]")
        driver.set_window_size(1400, min(max(height + chrome + 20, 1000), 8000))
        driver.save_screenshot(os.path.join(args.artifacts, "dashboard-full.png"))
        passed("screenshot %s (whole page: dashboard-full.png)" % shot)
        ok = True
    except (Failed, WebDriverException, OSError) as e:
        print("FAIL: %s: %s" % (type(e).__name__, str(e).strip()), file=sys.stderr, flush=True)
    finally:
        if driver is not None:
            if not ok:
                try:
                    driver.save_screenshot(os.path.join(args.artifacts, "dashboard-failure.png"))
                    log("failure screenshot: %s" % os.path.join(args.artifacts, "dashboard-failure.png"))
                except WebDriverException as e:
                    log("no failure screenshot: %s" % e)
            try:
                entries = driver.get_log("browser")
            except WebDriverException:
                entries = []
            path = os.path.join(args.artifacts, "dashboard-console.log")
            with open(path, "w") as f:
                for e in entries:
                    f.write("%s %s %s\n" % (e.get("timestamp"), e.get("level"), e.get("message")))
            errors = [e for e in entries if e.get("level") == "SEVERE"]
            if errors:
                log("%d console errors (see %s), first: %s" % (len(errors), path, errors[0].get("message")))
            if not ok:
                log("browser console log: %s" % path)
            driver.quit()
    log("%s in %.1f s" % ("PASS" if ok else "FAIL", time.monotonic() - t0))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
