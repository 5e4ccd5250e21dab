#!/usr/bin/env python3
"""The reporter pages in a real browser (SPEC §16): Debian's Chromium, headless, driven by
chromedriver over the WebDriver protocol with nothing but Python's standard library.

JavaScript is off for the reporter's session (Chrome's content setting, as in Tor Browser's
"Safest" mode). In each language a report is submitted through the form, its receipt is read
off the receipt page and used on the follow-up page, a reply is sent; a validation error must
keep every typed value; the Uyghur pages must lay out right to left; no request may leave the
origin. A second session, with JavaScript on for the checker only, runs axe-core on every page
of every language and fails on any violation. Screenshots of every page in every language are
written to BROWSER_SHOTS (default: target/browser-shots).

Usage: python3 ci/browser_test.py TIPLINE_BINARY AXE_MIN_JS
"""

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

LANGS = {"en": "ltr", "zh-Hans": "ltr", "zh-Hant": "ltr", "ug": "rtl", "bo": "ltr"}
NARRATIVES = {
    "en": "They called my mother and said I must come home.",
    "zh-Hans": "他们给我母亲打电话，说我必须回国。",
    "zh-Hant": "他們給我母親打電話，說我必須回國。",
    "ug": "ئۇلار ئانامغا تېلېفون قىلىپ، مېنىڭ چوقۇم قايتىشىم كېرەكلىكىنى ئېيتتى.",
    "bo": "ཁོང་ཚོས་ངའི་ཨ་མར་ཁ་པར་བཏང་ནས་ང་ཕྱིར་ལོག་དགོས་ཞེས་བཤད།",
}
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
FAILURES = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing answered at {url}")


class Session:
    """One WebDriver session on chromedriver."""

    def __init__(self, driver, javascript, profile):
        self.driver = driver
        prefs = {} if javascript else {"profile.managed_default_content_settings.javascript": 2}
        caps = {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": os.environ.get("CHROMIUM", "/usr/bin/chromium"),
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                    "--disable-dev-shm-usage",
                    "--window-size=1000,1400",
                    f"--user-data-dir={profile}",
                ],
                "prefs": prefs,
            },
            "goog:loggingPrefs": {"performance": "ALL"},
        }
        value = self.call("POST", "/session", {"capabilities": {"alwaysMatch": caps}}, session=False)
        self.id = value["sessionId"]
        # Elements are looked for up to 10 s, so a page still loading after a click is waited for.
        self.call("POST", "/timeouts", {"implicit": 10000, "pageLoad": 60000, "script": 60000})

    def call(self, method, path, body=None, session=True):
        url = self.driver + (f"/session/{self.id}" if session else "") + path
        data = json.dumps(body if body is not None else {}).encode() if method == "POST" else None
        req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return json.load(r)["value"]
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{method} {path}: {e.read().decode(errors='replace')}") from None

    def go(self, url):
        self.call("POST", "/url", {"url": url})

    def find(self, css):
        return self.call("POST", "/element", {"using": "css selector", "value": css})[ELEMENT]

    def find_all(self, css):
        return [e[ELEMENT] for e in self.call("POST", "/elements", {"using": "css selector", "value": css})]

    def type(self, css, text):
        element = self.find(css)
        self.call("POST", f"/element/{element}/clear")
        self.call("POST", f"/element/{element}/value", {"text": text})

    def click(self, css):
        self.call("POST", f"/element/{self.find(css)}/click")

    def text(self, css):
        return self.call("GET", f"/element/{self.find(css)}/text")

    def attribute(self, css, name):
        return self.call("GET", f"/element/{self.find(css)}/attribute/{name}")

    def prop(self, css, name):
        return self.call("GET", f"/element/{self.find(css)}/property/{name}")

    def rect(self, css):
        return self.call("GET", f"/element/{self.find(css)}/rect")

    def source(self):
        return self.call("GET", "/source")

    def title(self):
        return self.call("GET", "/title")

    def url(self):
        return self.call("GET", "/url")

    def shot(self, path):
        with open(path, "wb") as f:
            f.write(base64.b64decode(self.call("GET", "/screenshot")))

    def requests(self):
        """Every URL the browser asked for since the last call (Chrome's performance log)."""
        urls = []
        for entry in self.call("POST", "/se/log", {"type": "performance"}):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                urls.append(message["params"]["request"]["url"])
        return urls

    def script(self, source, args=None):
        return self.call("POST", "/execute/sync", {"script": source, "args": args or []})

    def script_async(self, source, args=None):
        return self.call("POST", "/execute/async", {"script": source, "args": args or []})

    def close(self):
        try:
            self.call("DELETE", "")
        except Exception:
            pass


def check(condition, what):
    if condition:
        print(f"  ok: {what}")
    else:
        print(f"  FAILED: {what}")
        FAILURES.append(what)


def reporter_flow(s, base, shots):
    # JavaScript is really off: a page's own script does not run.
    s.go("data:text/html,<title>off</title><script>document.title='on'</script>")
    check(s.title() == "off", "JavaScript is disabled in the reporter's session")
    s.requests()
    s.go(base + "/")
    s.shot(f"{shots}/index.png")
    for lang, direction in LANGS.items():
        print(f"[{lang}]")
        s.go(f"{base}/{lang}/about")
        s.shot(f"{shots}/{lang}-about.png")
        s.go(f"{base}/{lang}/report")
        check(s.attribute("html", "lang") == lang, f"{lang}: <html lang>")
        check(s.attribute("html", "dir") == direction, f"{lang}: <html dir={direction}>")
        s.shot(f"{shots}/{lang}-report.png")
        # A validation error: an incident without any tactic, a country that is none.
        narrative = NARRATIVES[lang]
        s.click("#kind-incident")
        s.type("#f-narrative", narrative)
        s.type("#f-country", "XX")
        s.type("#f-city", "Rotterdam")
        s.type("#f-contact", "signal +31 6 0000 0000")
        s.click("#f-consent-contact_ok")
        s.click("form button[type=submit]")
        check(len(s.find_all("#e-tactics")) == 1, f"{lang}: the tactics error beside its field")
        check(len(s.find_all("#e-country")) == 1, f"{lang}: the country error beside its field")
        check(s.prop("#f-narrative", "value") == narrative, f"{lang}: the narrative is kept")
        check(s.prop("#f-city", "value") == "Rotterdam", f"{lang}: the city is kept")
        check(s.prop("#f-contact", "value") == "signal +31 6 0000 0000", f"{lang}: the contact is kept")
        check(s.prop("#kind-incident", "checked") is True, f"{lang}: the kind is kept")
        check(s.prop("#f-consent-contact_ok", "checked") is True, f"{lang}: the consent is kept")
        s.shot(f"{shots}/{lang}-report-errors.png")
        if direction == "rtl":
            # Right to left: the submit button sits on the right half of the page.
            button = s.rect("form button[type=submit]")
            page = s.rect("body")
            check(button["x"] > page["x"] + page["width"] / 2, f"{lang}: the form is laid out right to left")
        # Fix the fields and send.
        s.click("#tactic-threat_to_family")
        s.click("#tactic-summons_or_visit")
        s.type("#f-country", "NL")
        s.click("form button[type=submit]")
        receipt = s.text("#receipt")
        reference = s.text("#reference")
        check(len(receipt) == 20 and reference.startswith("TL-"), f"{lang}: the receipt page shows a receipt")
        check(receipt not in s.url(), f"{lang}: the receipt is not in the URL")
        s.shot(f"{shots}/{lang}-receipt.png")
        # The receipt on the follow-up page.
        s.go(f"{base}/{lang}/follow-up")
        s.shot(f"{shots}/{lang}-follow-up.png")
        s.type("#f-receipt", receipt)
        s.click("form button[type=submit]")
        check(narrative in s.text(".narrative"), f"{lang}: the follow-up page shows the report")
        s.shot(f"{shots}/{lang}-follow-up-report.png")
        reply = f"{lang}: thank you"
        s.type("#f-body", reply)
        s.click("form button[type=submit]")
        check(reply in s.text(".messages"), f"{lang}: the reply joins the thread")
        check(receipt not in s.url(), f"{lang}: the receipt is not in the URL")
        s.shot(f"{shots}/{lang}-follow-up-reply.png")
    cookies = s.call("GET", "/cookie")
    check(cookies == [], "no cookies were set")
    elsewhere = [u for u in s.requests() if not (u.startswith(base) or u.startswith("data:") or u.startswith("about:"))]
    check(elsewhere == [], f"no request left the origin {elsewhere}")


def accessibility(s, base, axe_source):
    pages = ["/"] + [f"/{lang}/{page}" for lang in LANGS for page in ("report", "follow-up", "about")]
    for path in pages:
        s.go(base + path)
        s.script(axe_source)
        result = s.script_async(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document).then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact,"
            " nodes: v.nodes.map(n => n.target.join(' '))}))), e => done([{id: 'axe-error', nodes: [String(e)]}]));"
        )
        check(result == [], f"axe-core: no violations on {path} {json.dumps(result, ensure_ascii=False)}")
    # The error and answer pages too.
    s.go(base + "/en/report")
    s.click("#kind-incident")
    s.type("#f-narrative", "x")
    s.type("#f-country", "XX")
    s.click("form button[type=submit]")
    s.script(axe_source)
    result = s.script_async(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document).then(r => done(r.violations.map(v => v.id)), e => done(['axe-error']));"
    )
    check(result == [], f"axe-core: no violations on the form with errors {result}")


def main():
    binary, axe_path = sys.argv[1], sys.argv[2]
    shots = os.environ.get("BROWSER_SHOTS", "target/browser-shots")
    shutil.rmtree(shots, ignore_errors=True)
    os.makedirs(shots)
    work = tempfile.mkdtemp(prefix="tipline-browser-")
    port, driver_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(
        os.environ,
        TIPLINE_BIND=f"127.0.0.1:{port}",
        TIPLINE_DATA_DIR=f"{work}/data",
        DATABASE_URL=f"sqlite://{work}/data/tipline.db",
        TIPLINE_ORG_NAME="Example Rights Group",
        TIPLINE_ORG_CONTACT="help@example.org, Signal +31 6 0000 0000",
        RUST_LOG="warn",
    )
    server = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=open(f"{work}/server.log", "w"))
    driver = subprocess.Popen(
        [os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"), f"--port={driver_port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sessions = []
    try:
        wait_for(f"{base}/healthz")
        wait_for(f"http://127.0.0.1:{driver_port}/status")
        print("== reporter pages, JavaScript off")
        s = Session(f"http://127.0.0.1:{driver_port}", javascript=False, profile=f"{work}/profile-nojs")
        sessions.append(s)
        reporter_flow(s, base, shots)
        s.close()
        print("== axe-core, JavaScript on for the checker only")
        with open(axe_path, encoding="utf-8") as f:
            axe_source = f.read()
        a = Session(f"http://127.0.0.1:{driver_port}", javascript=True, profile=f"{work}/profile-axe")
        sessions.append(a)
        accessibility(a, base, axe_source)
    finally:
        for s in sessions:
            s.close()
        driver.terminate()
        server.terminate()
        server.wait(timeout=30)
        driver.wait(timeout=30)
    count = len(os.listdir(shots))
    print(f"screenshots: {count} in {shots}")
    if FAILURES:
        print(f"browser: {len(FAILURES)} checks failed")
        for f in FAILURES:
            print(f"  - {f}")
        sys.exit(1)
    shutil.rmtree(work, ignore_errors=True)
    print("browser: every check passed")


if __name__ == "__main__":
    main()
