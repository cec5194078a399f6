"""The floor board in a real browser: headless Chromium (Debian's, driven by Selenium through Debian's
chromedriver) while ``captures/store.pcap`` is replayed at its own pace (``wirecap serve --speed 1``).

Every sum change is timed from the release of the packet that caused it into the pipeline (``Pacer``)
to the moment the board shows the new sum (a MutationObserver in the page, on the same clock).
"""

import itertools
import math
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from decoders.iiko import OrderTracker
from decoders.iiko_events import IikoEvent, IikoLockChange, IikoOrderLock, IikoOrderSnapshot
from wirecap.api import Settings, build_app
from wirecap.floor import Floor
from wirecap.orders import OrderBook, analyse, read_rules
from wirecap.serve import Pacer, WebServer

STORE = Path(__file__).resolve().parent.parent / "captures" / "store.pcap"
CHROMEDRIVER = "/usr/bin/chromedriver"  # Debian's: Selenium must never fetch one
LATENCY = 1.0  # seconds from a packet's release to the board showing what it changed
WATCH = """
window.shown = [];
const floor = document.getElementById('floor');
new MutationObserver((changes) => {
  const now = Date.now();
  for (const change of changes)
    for (const node of change.addedNodes)
      if (node.querySelectorAll)
        for (const box of node.querySelectorAll('.order'))
          window.shown.push([now, Number(floor.dataset.seq), box.dataset.orderId, box.dataset.sum]);
}).observe(floor, {childList: true, subtree: true});
"""


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    yield driver
    driver.quit()


def sum_changes(floor: Floor) -> list[tuple[int, int, str, str | None]]:
    """(seq, packet time, order id, new sum: "" if none is known, None once closed) for every change."""
    book = OrderBook()
    sums: dict[str, str | None] = {}
    changes = []
    for event in floor.journal or []:
        book.observe(event)
        if isinstance(event, IikoEvent | IikoOrderSnapshot) and event.order.id in book.orders:
            order_id = event.order.id or ""
            total = book.orders[order_id].total()
            now = None if book.orders[order_id].closed else "" if total is None else str(total)
            if now != sums.get(order_id):
                changes.append((event.seq, event.ts, order_id, now))
            sums[order_id] = now
    return changes


def sum_at(changes: list[tuple[int, int, str, str | None]], order_id: str, seq: int) -> str | None:
    return next((c[3] for c in reversed(changes) if c[2] == order_id and c[0] <= seq), None)


def test_board_follows_a_replay_within_a_second(browser: webdriver.Chrome, tmp_path: Path) -> None:
    floor = Floor(keep_journal=True)
    server = WebServer(build_app(floor, Settings("capture", str(STORE))), "127.0.0.1", 0, "--listen")
    server.start()
    pacer = Pacer(speed=1.0)
    try:
        browser.get(server.url)
        WebDriverWait(browser, 10).until(lambda b: b.find_element(By.ID, "link").text == "replay")
        browser.execute_script(WATCH)
        analyzers = (floor, OrderTracker(read_rules(())))
        replay = threading.Thread(target=analyse, args=([str(STORE)], analyzers), kwargs={"pace": pacer})
        replay.start()
        replay.join(timeout=60)
        floor.finished = True
        WebDriverWait(browser, 10).until(lambda b: len(b.find_elements(By.CSS_SELECTOR, ".table")) == 2)
        time.sleep(0.5)  # the last change on its way to the page
        shown: list[list[Any]] = browser.execute_script("return window.shown")  # [ms, seq, order, sum]
        changes = sum_changes(floor)
        assert len([c for c in changes if c[3]]) >= 10
        for seq, ts, order_id, _ in changes:
            # The first floor drawn that includes the change: within 1 s, showing the sums of its moment
            # (a sum that held for less than a refresh may be followed at once by the next one).
            when, drawn = next((t / 1000, s) for t, s, _, _ in shown if s >= seq and t / 1000 >= pacer.released[ts])
            assert when - pacer.released[ts] < LATENCY, (order_id, seq, when - pacer.released[ts])
            boxes = {o: total for t, s, o, total in shown if t / 1000 == when and s == drawn}
            assert boxes.get(order_id) == sum_at(changes, order_id, drawn), (order_id, seq)
        assert browser.find_elements(By.CSS_SELECTOR, "#timeline li")
        locked_moment(browser, floor, server.url)
        screenshot = tmp_path / "board.png"
        browser.save_screenshot(str(screenshot))
        assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        browser.find_element(By.CSS_SELECTOR, ".table").click()
        WebDriverWait(browser, 5).until(lambda b: b.find_element(By.ID, "detail").is_displayed())
        assert browser.find_elements(By.CSS_SELECTOR, "#detail tr")
    finally:
        server.stop()


def locked_moment(browser: webdriver.Chrome, floor: Floor, url: str) -> None:
    """The slider moved to the longest lock of the evening: the board shows the floor of that moment
    (the API's ``?at=`` for the same moment) and the lock, with the terminal's name."""
    first, last = floor.first_ts or 0, floor.book.last_ts
    locks = [e for e in floor.journal or [] if isinstance(e, IikoLockChange)]
    held = [
        (b.ts - a.ts, a, b)
        for a, b in itertools.pairwise(locks)
        if isinstance(a, IikoOrderLock) and a.order_id in {o.order.id for o in floor.view(a.ts).orders}
    ]  # a lock taken to open an order comes before the order: the board cannot show it
    _, lock, unlock = max(held, key=lambda h: h[0])
    value = math.ceil((lock.ts - first) / (last - first) * 1000) + 1  # past the browser rounding to ms
    assert first + value / 1000 * (last - first) < unlock.ts  # the slider can stop inside the lock
    browser.execute_script(
        "const s = document.getElementById('slider'); s.value = arguments[0]; s.dispatchEvent(new Event('input'));",
        str(value),
    )
    WebDriverWait(browser, 5).until(lambda b: b.find_elements(By.CSS_SELECTOR, ".lock"))
    at = browser.execute_script("return new Date(board.at).toISOString()")
    want = httpx.get(f"{url}api/orders", params={"at": at}).json()
    boxes = browser.find_elements(By.CSS_SELECTOR, ".order")
    assert sorted((b.get_attribute("data-order-id"), b.get_attribute("data-sum")) for b in boxes) == sorted(
        (o["id"], o["sum"] or "") for o in want
    )
    (shown,) = browser.find_elements(By.CSS_SELECTOR, ".lock")
    assert shown.text == "locked by " + floor.book.terminals[lock.terminal or ""]
