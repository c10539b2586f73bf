#!/usr/bin/python3
"""Drives headless Chromium over the DevTools protocol against a running
simple-ntpd's status page (used by status-page.sh).

It opens the page as a person would (with the API token in the URL when one
is given), waits until the charts have data, asserts what the rendered DOM
shows, records every network request the page makes and routes any request
for another host to a trap proxy that must never be used, and saves
screenshots (desktop light, phone dark) into the artefact directory.

Needs Debian's chromium and python3-websocket (run with /usr/bin/python3).
"""

import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import websocket


def closed_port():
    """A loopback TCP port nothing listens on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def fail(msg):
    print(f"status-page: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


class Trap:
    """A TCP listener posing as the browser's proxy: every connection to it
    is a request that tried to leave for another host."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.hits = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(2)
            try:
                self.hits.append(conn.recv(512).decode(errors="replace").splitlines()[0])
            except (OSError, IndexError):
                self.hits.append("(connection without a request line)")
            conn.close()


class Browser:
    """One headless Chromium and a DevTools session on a page of its own
    browser context, whose proxy is the trap: loopback goes direct
    (Chromium's implicit bypass), any other host would go to the trap.
    Chromium's own background services (updates, sign-in) run outside that
    context; their proxy is a closed loopback port, so they fail at once."""

    def __init__(self, chromium, proxy_port, workdir):
        self.profile = tempfile.mkdtemp(prefix="profile-", dir=workdir)
        args = [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-default-apps", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
            f"--user-data-dir={self.profile}", "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
            f"--proxy-server=http://127.0.0.1:{closed_port()}",
            "about:blank",
        ]
        self.log = open(os.path.join(workdir, "chromium.log"), "w")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.time() + 30
        while not (os.path.exists(port_file) and open(port_file).read().strip()):
            if self.proc.poll() is not None or time.time() > deadline:
                self.close()
                fail(f"chromium did not start (see {self.log.name})")
            time.sleep(0.1)
        port, path = open(port_file).read().split()[:2]
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=30, suppress_origin=True)
        self.next_id = 0
        self.session = None
        self.requests = []
        self.console = []
        context = self.call("Target.createBrowserContext", proxyServer=f"http://127.0.0.1:{proxy_port}")
        target = self.call("Target.createTarget", url="about:blank", browserContextId=context["browserContextId"])
        self.session = self.call("Target.attachToTarget", targetId=target["targetId"], flatten=True)["sessionId"]

    def _event(self, msg):
        if msg.get("sessionId") != self.session:
            return
        method = msg.get("method")
        params = msg.get("params", {})
        if method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        elif method == "Runtime.exceptionThrown":
            self.console.append("exception: " + json.dumps(params["exceptionDetails"])[:500])
        elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
            self.console.append(f"{params['entry']['level']}: {params['entry']['text']} {params['entry'].get('url', '')}")
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "warning"):
            self.console.append(f"console.{params['type']}: " + json.dumps(params["args"])[:300])

    def call(self, method, **params):
        self.next_id += 1
        ident = self.next_id
        msg = {"id": ident, "method": method, "params": params}
        if self.session:
            msg["sessionId"] = self.session
        self.ws.send(json.dumps(msg))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == ident:
                if "error" in msg:
                    fail(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self._event(msg)

    def evaluate(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            fail(f"script error: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait_for(self, expression, what, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.evaluate(expression):
                return
            time.sleep(0.25)
        fail(f"timed out waiting for {what}")

    def screenshot(self, path):
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                         clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)


# Facts about the rendered page, gathered in the browser.
FACTS = """(() => {
  const pts = (sel) => [...document.querySelectorAll(sel)].map((p) => ({
    series: p.dataset.series, points: Number(p.dataset.points) }));
  const rows = [...document.querySelectorAll('#sources tbody tr')].map((tr) => ({
    state: tr.dataset.state, cells: [...tr.cells].map((c) => c.textContent.trim()),
    reach: tr.querySelectorAll('.reach b.on').length }));
  return {
    loaded: document.body.dataset.loaded === 'true',
    error: document.getElementById('error').hidden ? null : document.getElementById('error').textContent,
    state: document.getElementById('sync-state').textContent,
    stratum: document.getElementById('t-stratum').textContent,
    reference: document.getElementById('t-reference').textContent,
    charts: {
      offset: pts('#chart-offset path.series'), jitter: pts('#chart-jitter path.series'),
      frequency: pts('#chart-frequency path.series'), traffic: pts('#chart-traffic path.series'),
    },
    sources: rows,
    clients: [...document.querySelectorAll('#clients tbody tr')].map((tr) => tr.cells[0].textContent),
    width: document.documentElement.scrollWidth,
  };
})()"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True, help="the page, e.g. http://127.0.0.1:9559/")
    ap.add_argument("--token", default=None)
    ap.add_argument("--upstream", required=True, help="the upstream source's address as the daemon shows it")
    ap.add_argument("--artefacts", required=True)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--clients", default="", help="comma-separated client addresses the clients table must list")
    ap.add_argument("--auth", default="none", help="what the upstream's Auth cell must say (none, NTS, key N)")
    ap.add_argument("--wait-history", type=int, default=3,
                    help="synchronised samples (with the upstream's offset) to wait for before opening the page")
    args = ap.parse_args()
    os.makedirs(args.artefacts, exist_ok=True)
    origin = args.url.rstrip("/") + "/"
    page_url = origin + (f"?token={args.token}" if args.token else "")
    wait_for_history(origin, args.token, args.upstream, args.wait_history)

    trap = Trap()
    browser = Browser(args.chromium, trap.port, args.artefacts)
    try:
        browser.call("Network.enable")
        browser.call("Runtime.enable")
        browser.call("Log.enable")
        browser.call("Page.enable")
        # The trap works: a request for another host from this context reaches it.
        browser.evaluate("fetch('http://trap-check.invalid/').then(() => 0, () => 0)")
        deadline = time.time() + 10
        while not trap.hits and time.time() < deadline:
            time.sleep(0.1)
        if not any("trap-check.invalid" in h for h in trap.hits):
            fail(f"the trap proxy did not see a request for another host: {trap.hits}")
        trap.hits.clear()
        browser.requests.clear()
        browser.console.clear()

        browser.call("Emulation.setDeviceMetricsOverride", width=1280, height=900, deviceScaleFactor=1, mobile=False)
        browser.call("Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme", "value": "light"}])
        browser.call("Page.navigate", url=page_url)
        browser.wait_for(
            "!!document.body && document.body.dataset.loaded === 'true' && "
            "Number(document.querySelector('#chart-offset svg').dataset.points) > 0",
            "the page to load its data")
        facts = browser.evaluate(FACTS)
        with open(os.path.join(args.artefacts, "facts-desktop.json"), "w") as f:
            json.dump(facts, f, indent=2)
        check_desktop(facts, args.upstream, [c for c in args.clients.split(",") if c], args.auth)
        browser.screenshot(os.path.join(args.artefacts, "desktop-light.png"))
        with open(os.path.join(args.artefacts, "dom.html"), "w") as f:
            f.write(browser.evaluate("document.documentElement.outerHTML"))

        # The last day: five-minute means, the newest one still filling.
        browser.evaluate("document.querySelector('button[data-range=day]').click()")
        browser.wait_for("[...document.querySelectorAll('#chart-offset path.series')]"
                         ".some((p) => p.dataset.series === 'system' && Number(p.dataset.points) >= 1) && "
                         "document.querySelector('button[data-range=day]').getAttribute('aria-pressed') === 'true'",
                         "the day chart")
        browser.evaluate("document.querySelector('button[data-range=hour]').click()")

        # A phone in dark mode.
        browser.call("Emulation.setDeviceMetricsOverride", width=390, height=844, deviceScaleFactor=2, mobile=True)
        browser.call("Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme", "value": "dark"}])
        browser.call("Page.reload", ignoreCache=True)
        browser.wait_for("!!document.body && document.body.dataset.loaded === 'true' && "
                         "Number(document.querySelector('#chart-offset svg').dataset.points) > 1", "the phone page")
        facts = browser.evaluate(FACTS)
        with open(os.path.join(args.artefacts, "facts-phone.json"), "w") as f:
            json.dump(facts, f, indent=2)
        if facts["width"] > 390:
            fail(f"the page is {facts['width']} px wide, wider than the phone's 390 px")
        bg = browser.evaluate("getComputedStyle(document.body).backgroundColor")
        if bg in ("rgb(255, 255, 255)", "rgb(245, 246, 248)"):
            fail(f"prefers-color-scheme: dark left a light background ({bg})")
        browser.screenshot(os.path.join(args.artefacts, "phone-dark.png"))
        # Let any late request show up before judging the network log.
        time.sleep(1)
        browser.call("Runtime.evaluate", expression="1")
    finally:
        browser.close()

    with open(os.path.join(args.artefacts, "network.log"), "w") as f:
        f.write("\n".join(browser.requests) + "\n")
    foreign = [u for u in browser.requests if not (u.startswith(origin) or u.startswith("data:"))]
    if foreign:
        fail(f"the page asked another host for: {foreign}")
    if trap.hits:
        fail(f"requests left for another host through the trap proxy: {trap.hits}")
    if not any("/api/v1/history" in u for u in browser.requests):
        fail("the network log shows no API request: is it recording?")
    if browser.console:
        fail("the browser reported errors: " + "; ".join(browser.console))
    print(f"status-page: browser checks passed ({len(browser.requests)} requests, all to {origin})")


def wait_for_history(origin, token, upstream, n, timeout=90):
    """Waits until /api/v1/history holds n synchronised samples with the
    upstream's offset (a sample every 5 s)."""
    deadline = time.time() + timeout
    while True:
        req = urllib.request.Request(origin + "api/v1/history")
        if token:
            req.add_header("Authorization", "Bearer " + token)
        doc = json.load(urllib.request.urlopen(req, timeout=5))
        synced = sum(v is not None for v in doc["offset_seconds"])
        series = [s for s in doc["sources"] if s["address"] == upstream]
        of_upstream = sum(v is not None for v in series[0]["offset_seconds"]) if series else 0
        if synced >= n and of_upstream >= n:
            return
        if time.time() > deadline:
            fail(f"no {n} synchronised samples within {timeout} s: {json.dumps(doc)[:2000]}")
        time.sleep(1)


def check_desktop(facts, upstream, clients, auth):
    if facts["error"]:
        fail(f"the page shows an error: {facts['error']}")
    if facts["state"] != "Synchronised":
        fail(f"header says {facts['state']!r}, expected Synchronised")
    if facts["stratum"] != "2":
        fail(f"stratum tile says {facts['stratum']!r}, expected 2 (upstream at stratum 1)")
    for name, series in facts["charts"].items():
        main = series[0] if series else None
        if not main or main["points"] < 2:
            fail(f"the {name} chart has no line with data points: {series}")
    src = [s for s in facts["charts"]["offset"] if upstream in (s["series"] or "")]
    if not src or src[0]["points"] < 2:
        fail(f"the offset chart has no overlay for the source {upstream}: {facts['charts']['offset']}")
    rows = [r for r in facts["sources"] if upstream in r["cells"]]
    if not rows:
        fail(f"the sources table has no row for {upstream}: {facts['sources']}")
    if rows[0]["state"] != "selected":
        fail(f"the upstream's row says {rows[0]['state']}, expected selected")
    if rows[0]["cells"][-1] != auth:
        fail(f"the upstream's Auth cell says {rows[0]['cells'][-1]!r}, expected {auth!r}")
    if rows[0]["reach"] < 3:
        fail(f"the upstream's reach shows {rows[0]['reach']} of 8 polls answered, expected at least 3")
    if rows[0]["cells"][-2] != "basic":
        fail(f"the upstream's Mode cell says {rows[0]['cells'][-2]!r}, expected 'basic' (no xleave)")
    if rows[0]["cells"][3] != "1":
        fail(f"the upstream's stratum cell says {rows[0]['cells'][3]!r}, expected 1")
    if not facts["clients"]:
        fail("the busiest clients table is empty")
    missing = [c for c in clients if c not in facts["clients"]]
    if missing:
        fail(f"the busiest clients table lacks {missing}: {facts['clients']}")


if __name__ == "__main__":
    main()
