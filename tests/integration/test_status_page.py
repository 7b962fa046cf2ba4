"""The status page in a real headless Chromium: it renders, its numbers match /metrics, the
central quota it shows matches /readyz, the explain form answers, and the browser fetches
nothing from outside loopback."""

import asyncio
import os
import re
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from router.app import create_app
from router.keys import EDGE
from tests.servers import TEST_SECRET, edge_settings, serve

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
SCREENSHOT_COPY = Path(__file__).parents[2] / "docs" / "status-page.png"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs Debian's chromium and chromium-driver (make setup installs them)",
)

# The central's quota: slow refill, so tokens the test spends stay visibly spent.
QPS, BURST, MAX_CONCURRENT = 0.1, 20, 6
QUOTA_TEXT = re.compile(
    r"^(?P<in_flight>\d+)/(?P<max>\d+) in flight · (?:(?P<waiting>\d+) waiting · )?"
    r"(?P<tokens>[\d.]+)/(?P<burst>\d+) tokens at (?P<qps>[\d.]+)/s · (?P<store>[a-z ()]+)"
    r" · (?P<sheds>\d+) shed$"
)


@pytest.fixture(scope="module")
async def quota_edge_url(central_url: str, redis_url: str) -> AsyncIterator[str]:
    """A real edge whose central has a QPS quota shared through the real Redis."""
    quota = {"qps": QPS, "burst": BURST, "max_concurrent": MAX_CONCURRENT}
    central = {"quota": quota, "redis_url": redis_url, "account": f"status-{uuid.uuid4().hex}"}
    app = create_app(edge_settings(central_url, central=central))
    async with serve(app) as url:
        await asyncio.wait_for(app[EDGE].wait_ready(), 120)
        yield url


async def readyz_quota(http: aiohttp.ClientSession, edge_url: str) -> dict[str, Any]:
    """The first central provider's quota as `/readyz` reports it (and no secret with it)."""
    async with http.get(f"{edge_url}/readyz") as r:
        text = await r.text()
        body = await r.json()
    assert TEST_SECRET not in text
    quota = body["central"]["providers"][0]["quota"]
    assert isinstance(quota, dict)
    return quota


def metrics_view(text: str) -> tuple[dict[str, int], dict[str, tuple[int, float, float]]]:
    """Requests per route, and (count, p50 ms, p99 ms) per route/task, read from /metrics."""
    totals: dict[str, int] = {}
    buckets: dict[str, list[tuple[float, float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "edge_requests_total":
                route = sample.labels["route"]
                totals[route] = totals.get(route, 0) + int(sample.value)
            if sample.name == "edge_request_latency_seconds_bucket":
                key = f"{sample.labels['route']}/{sample.labels['task']}"
                buckets.setdefault(key, []).append((float(sample.labels["le"]), sample.value))
    latency = {}
    for key, series in buckets.items():
        series.sort()
        latency[key] = (int(series[-1][1]), quantile(series, 0.5), quantile(series, 0.99))
    return totals, latency


def quantile(series: list[tuple[float, float]], q: float) -> float:
    """histogram_quantile, written out again here so the page is checked independently."""
    rank, lower, below = q * series[-1][1], 0.0, 0.0
    for upper, count in series:
        if count >= rank:
            if upper == float("inf"):
                return lower * 1000
            return (lower + (upper - lower) * (rank - below) / (count - below)) * 1000
        lower, below = upper, count
    return lower * 1000


def open_browser():  # type: ignore[no-untyped-def]
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM  # type: ignore[assignment]
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--no-first-run",
        "--window-size=1280,1400",
        # Any host but loopback fails to resolve: a CDN reference would show up as an error.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


async def test_status_page_in_chromium(quota_edge_url: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    edge_url = quota_edge_url

    async with aiohttp.ClientSession() as http:
        bodies = [{"inputs": [{"text": f"status page check {i}"}]} for i in range(6)] + [
            {"inputs": {"text": "card lost"}, "parameters": {"labels": ["card", "refund"]}}
        ]
        for body in bodies:
            async with http.post(f"{edge_url}/v3/models/auto/generate", json=body) as r:
                assert r.status == 200, await r.text()
        async with http.get(f"{edge_url}/") as r:
            page = await r.text()
            assert r.status == 200 and "status.js" in page
            assert not re.search(r"(src|href)=\"(https?:)?//", page)

    driver = await asyncio.to_thread(open_browser)
    try:
        await asyncio.to_thread(driver.get, f"{edge_url}/")
        wait = WebDriverWait(driver, 60)

        def polls() -> int:
            return int(driver.find_element(By.TAG_NAME, "body").get_attribute("data-polls") or 0)

        await asyncio.to_thread(wait.until, lambda d: polls() >= 1)
        async with aiohttp.ClientSession() as http:  # live traffic while the page watches
            for i in range(8):
                body = {"inputs": {"text": f"live {i}"}, "parameters": {"labels": ["a", "b"]}}
                async with http.post(f"{edge_url}/v3/models/auto/generate", json=body) as r:
                    assert r.status == 200
                await asyncio.sleep(0.5)
            spent_at = time.monotonic()
            for i in range(3):  # central calls: each takes a token from the shared bucket
                body = {"model": "auto", "messages": [{"role": "user", "content": f"hi {i}"}]}
                async with http.post(
                    f"{edge_url}/v1/chat/completions", json={**body, "max_tokens": 4}
                ) as r:
                    assert r.status == 200 and r.headers["X-Route"] == "central", await r.text()
        seen = polls()
        await asyncio.to_thread(wait.until, lambda d: polls() >= seen + 2)
        rows = driver.find_elements(By.CSS_SELECTOR, "#latency tbody tr")
        shown = {
            r.get_attribute("data-path"): (
                int(r.find_element(By.CSS_SELECTOR, ".count").text),
                float(r.find_element(By.CSS_SELECTOR, ".p50").text),
                float(r.find_element(By.CSS_SELECTOR, ".p99").text),
            )
            for r in rows
        }
        totals_shown = {
            e.get_attribute("data-route"): int(e.text.split(": ")[1].split()[0])
            for e in driver.find_elements(By.CSS_SELECTOR, "#totals .req-total")
        }
        models = [
            e.text for e in driver.find_elements(By.CSS_SELECTOR, "#models tbody td:first-child")
        ]
        breakers = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#central .breaker")]
        recent_routes = [
            e.text for e in driver.find_elements(By.CSS_SELECTOR, "#recent tbody td:nth-child(5)")
        ]
        ready = driver.find_element(By.ID, "ready").text
        polylines = driver.find_elements(By.CSS_SELECTOR, "#chart polyline")

        async with aiohttp.ClientSession() as http, http.get(f"{edge_url}/metrics") as r:
            totals, latency = metrics_view(await r.text())  # before the form adds a request

        # The quota cell from a fresh poll, then /readyz at once (after /metrics: these count).
        seen = polls()
        await asyncio.to_thread(wait.until, lambda d: polls() > seen)
        quota_shown = driver.find_element(By.CSS_SELECTOR, "#central .quota").text
        read_at = time.monotonic()
        async with aiohttp.ClientSession() as http:
            quota = await readyz_quota(http, edge_url)
            async with http.get(f"{edge_url}/status.json") as r:
                assert TEST_SECRET not in await r.text()
        refilled = QPS * (time.monotonic() - spent_at)  # at most, since the first call
        quota_gap_s = time.monotonic() - read_at + 2.5  # the page's poll is up to 2 s older

        textarea = driver.find_element(By.CSS_SELECTOR, "#explain textarea")
        textarea.clear()
        textarea.send_keys('{"inputs": [{"text": "write a haiku", "task": "generate"}]}')
        driver.find_element(By.CSS_SELECTOR, "#explain button").click()
        await asyncio.to_thread(
            wait.until, lambda d: "→" in d.find_element(By.ID, "explain-out").text
        )
        explained = driver.find_element(By.ID, "explain-out").text

        resources = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
            ".concat([location.href])"
        )
        screenshot = tmp_path / "status-page.png"
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(str(screenshot))
    finally:
        await asyncio.to_thread(driver.quit)

    assert ready == "ready"
    assert {"all-minilm-l6-v2", "efficientnet-lite0"} <= set(models)
    assert breakers and all(b in ("closed", "open", "half_open", "half-open") for b in breakers)
    match = QUOTA_TEXT.match(quota_shown)
    assert match, quota_shown
    assert (quota["qps"], quota["burst"], quota["max_concurrent"]) == (QPS, BURST, MAX_CONCURRENT)
    assert (quota["store"], quota["degraded"]) == ("redis", False)
    assert float(match["qps"]) == quota["qps"] and int(match["burst"]) == quota["burst"]
    assert int(match["max"]) == quota["max_concurrent"]
    assert (match["store"], int(match["sheds"])) == (quota["store"], quota["sheds"])
    assert int(match["in_flight"]) == quota["in_flight"] == 0  # idle when both looked
    assert quota["tokens"] <= BURST - 3 + refilled + 0.01  # the three central calls took theirs
    assert float(match["tokens"]) == pytest.approx(quota["tokens"], abs=QPS * quota_gap_s + 0.05)
    assert "edge" in recent_routes or "cache" in recent_routes
    assert totals_shown == totals and sum(totals.values()) >= 7
    assert set(shown) == set(latency)
    for path, (count, p50, p99) in shown.items():
        expected = latency[path]
        assert count == expected[0]
        assert p50 == pytest.approx(expected[1], abs=0.01) and p99 == pytest.approx(
            expected[2], abs=0.01
        )
    assert polylines, "the chart drew no line"
    assert "central" in explained and "reason" in explained
    origin = edge_url.rstrip("/")
    assert resources and all(u.startswith(origin + "/") or u == origin for u in resources), (
        resources
    )
    assert screenshot.stat().st_size > 10_000
    if os.environ.get("HYBRID_ROUTER_UPDATE_SCREENSHOT"):
        SCREENSHOT_COPY.parent.mkdir(exist_ok=True)
        shutil.copy(screenshot, SCREENSHOT_COPY)
