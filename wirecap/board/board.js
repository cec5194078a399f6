// The floor board: the open orders as a grid of tables, kept current by the API's event stream.
// No framework and no build step: the store LAN has no internet, so everything is in this file.
"use strict";

const board = { mode: "live", at: null, clock: null, shown: new Map(), busy: false, again: false };
const $ = (id) => document.getElementById(id);

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function parseTime(text) {
  return text ? Date.parse(String(text).replace(/(\.\d{3})\d+/, "$1")) : NaN;
}

function hhmmss(ms) {
  return new Date(ms).toISOString().slice(11, 19);
}

function guests(count) {
  return count === null || count === undefined ? "? guests" : `${count} guest${count === 1 ? "" : "s"}`;
}

function money(value) {
  return value === null || value === undefined ? "" : Number(value).toFixed(2);
}

async function getJson(url) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (response.status === 401) { location.href = "/login"; throw new Error("token needed"); }
  if (!response.ok) throw new Error(url + ": " + response.status);
  return { body: await response.json(), headers: response.headers };
}

// Reload the orders; calls arriving meanwhile are folded into one more reload.
async function refresh() {
  if (board.busy) { board.again = true; return; }
  board.busy = true;
  try {
    do {
      board.again = false;
      const query = board.at === null ? "" : "?at=" + encodeURIComponent(new Date(board.at).toISOString());
      const { body, headers } = await getJson("/api/orders" + query);
      board.clock = parseTime(headers.get("X-Wirecap-Clock"));
      $("floor").dataset.seq = headers.get("X-Wirecap-Seq");  // the last event this floor includes
      render(body);
    } while (board.again);
  } finally {
    board.busy = false;
  }
}

function signature(order) {
  return [order.sum, order.status, order.guestsCount, order.items.length, order.lockedBy, order.whenChanged].join("|");
}

function render(orders) {
  const now = board.mode === "live" ? Math.max(Date.now(), board.clock || 0) : board.clock || Date.now();
  const tables = new Map();
  for (const order of orders) {
    const key = order.tableNumber || "—";
    if (!tables.has(key)) tables.set(key, []);
    tables.get(key).push(order);
  }
  const keys = [...tables.keys()].sort((a, b) => (Number(a) - Number(b)) || a.localeCompare(b));
  const floor = $("floor");
  floor.replaceChildren();
  const shown = new Map();
  let total = 0;
  for (const key of keys) {
    const tile = el("article", "table");
    tile.dataset.table = key;
    tile.append(el("h3", null, key === "—" ? "no table" : "Table " + key));
    for (const order of tables.get(key)) {
      total += Number(order.sum || 0);
      tile.append(orderBox(order, now));
      const sig = signature(order);
      shown.set(order.id, sig);
      if (board.shown.has(order.id) && board.shown.get(order.id) !== sig) tile.classList.add("flash");
    }
    tile.addEventListener("click", () => showDetail(tables.get(key)));
    floor.append(tile);
  }
  for (const id of shown.keys()) if (!board.shown.has(id) && board.shown.size) floor.querySelector(`[data-order-id="${CSS.escape(id)}"]`)?.closest(".table").classList.add("flash");
  board.shown = shown;
  $("summary").textContent = `${orders.length} open order${orders.length === 1 ? "" : "s"}, ${money(total)}`;
  $("clock").textContent = hhmmss(now) + " UTC";
}

function orderBox(order, now) {
  const box = el("div", "order status-" + (order.status || ""));
  box.dataset.orderId = order.id;
  box.dataset.sum = order.sum === null ? "" : String(order.sum);
  box.dataset.rendered = String(Date.now());
  box.append(el("div", "sum", money(order.sum)));
  const opened = parseTime(order.whenCreated);
  const minutes = Number.isNaN(opened) ? "" : ` · ${Math.max(0, Math.floor((now - opened) / 60000))} min`;
  box.append(el("div", "meta", `№ ${order.number ?? "?"} · ${order.waiterName ?? ""}`));
  box.append(el("div", "meta", `${guests(order.guestsCount)}${minutes}`));
  if (order.lockedBy) box.append(el("div", "lock", "locked by " + (order.lockedByName || order.lockedBy)));
  return box;
}

function showDetail(orders) {
  const body = $("detail-body");
  body.replaceChildren();
  for (const order of orders) {
    body.append(el("h3", null, `Order ${order.number ?? "?"} · table ${order.tableNumber ?? "?"}`));
    body.append(el("p", "meta", `${order.waiterName ?? ""} · ${guests(order.guestsCount)} · ${order.status ?? ""} · terminal ${order.terminalName || order.terminalId || "?"}`));
    const table = el("table");
    for (const item of order.items) {
      const row = el("tr");
      row.append(el("td", null, item.productName ?? item.productId ?? "?"), el("td", "n", item.amount), el("td", "n", money(item.price)), el("td", "n", money(item.cost)));
      table.append(row);
    }
    const row = el("tr");
    row.append(el("td", null, "total"), el("td"), el("td"), el("td", "n", money(order.sum)));
    table.append(row);
    body.append(table);
  }
  $("detail").hidden = false;
}

function addToTimeline(kind, event) {
  const order = event.order || {};
  const what = kind === "iiko.event" ? event.type : kind.replace("iiko.", "");
  const when = parseTime(event.ts);
  const item = el("li", null, `${hhmmss(when)}  ${what}  ${order.number ? "№ " + order.number : ""} ${order.table ? "· table " + order.table : ""}`);
  item.dataset.ts = String(when);
  const list = $("timeline");
  list.prepend(item);
  while (list.children.length > 500) list.lastChild.remove();
  markFuture();
}

function markFuture() {
  for (const item of $("timeline").children) item.classList.toggle("future", board.at !== null && Number(item.dataset.ts) > board.at);
}

function listen() {
  const source = new EventSource("/api/events?kind=iiko.*");
  source.onopen = () => { $("link").textContent = board.mode === "live" ? "live" : "replay"; $("link").classList.add("up"); };
  source.onerror = () => { $("link").textContent = "reconnecting…"; $("link").classList.remove("up"); };
  for (const kind of ["iiko.event", "iiko.order_snapshot", "iiko.order_lock", "iiko.order_unlock"]) {
    source.addEventListener(kind, (message) => {
      const event = JSON.parse(message.data);
      if (kind === "iiko.event" && !event.derived) addToTimeline(kind, event);
      if (board.at === null) refresh();
    });
  }
  source.addEventListener("reset", () => refresh());
}

// Over a capture: a slider from its first to its last packet (read anew: the capture may still be read).
async function setupReplay() {
  const { body: stats } = await getJson("/api/stats");
  board.mode = stats.mode;
  if (stats.mode !== "capture") return;
  $("replay").hidden = false;
  $("slider").addEventListener("input", async () => {
    const { body: now } = await getJson("/api/stats");
    const first = parseTime(now.first_ts);
    const last = parseTime(now.last_ts);
    const share = Number($("slider").value) / 1000;
    board.at = share >= 1 || Number.isNaN(first) ? null : first + share * (last - first);
    $("moment").textContent = board.at === null ? "end of capture" : hhmmss(board.at) + " UTC";
    markFuture();
    refresh();
  });
  $("now").addEventListener("click", () => { $("slider").value = "1000"; $("slider").dispatchEvent(new Event("input")); });
}

document.addEventListener("DOMContentLoaded", async () => {
  $("close").addEventListener("click", () => { $("detail").hidden = true; });
  await setupReplay();
  await refresh();
  listen();
});
