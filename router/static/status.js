// The status page: polls /status.json every 2 s and renders it; no libraries, no build step.
"use strict";
const POLL_MS = 2000;
const HISTORY = 90;           // points kept per path (3 minutes)
const WINDOW = 5;             // chart quantiles over the last 5 polls (~10 s) of bucket deltas
const COLORS = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#1b7c83", "#e16f24"];
const snapshots = [];         // [{t, buckets: {path: [[le, n], ...]}}]
const history = {};           // path -> [{t, p50, p99}]

const $ = (sel) => document.querySelector(sel);

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "–" : String(text);
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function fill(tbody, rows, render) {
  tbody.replaceChildren();
  for (const item of rows) {
    const tr = document.createElement("tr");
    render(tr, item);
    tbody.appendChild(tr);
  }
}

// Prometheus histogram_quantile over cumulative [le, count] pairs (le null = +Inf).
function quantile(buckets, q) {
  if (!buckets.length) return null;
  const total = buckets[buckets.length - 1][1];
  if (total <= 0) return null;
  const rank = q * total;
  let lower = 0, below = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === null) return lower;
      if (count === below) return le;
      return lower + (le - lower) * (rank - below) / (count - below);
    }
    lower = le === null ? lower : le;
    below = count;
  }
  return lower;
}

function windowed(path) {
  // Quantiles of requests seen between the oldest kept snapshot in the window and now.
  const now = snapshots[snapshots.length - 1];
  const then = snapshots[Math.max(0, snapshots.length - 1 - WINDOW)];
  const cur = now.buckets[path] || [];
  const old = then === now ? [] : (then.buckets[path] || []);
  const delta = cur.map(([le, n], i) => [le, n - (old[i] ? old[i][1] : 0)]);
  const p50 = quantile(delta, 0.5), p99 = quantile(delta, 0.99);
  return { p50: p50 === null ? null : p50 * 1000, p99: p99 === null ? null : p99 * 1000 };
}

function drawChart() {
  const svg = $("#chart");
  const W = 1000, H = 200, L = 56, B = 18, T = 8;
  const paths = Object.keys(history).sort();
  let max = 1;
  for (const p of paths) for (const pt of history[p]) if (pt.p99 !== null) max = Math.max(max, pt.p99);
  const top = Math.pow(10, Math.ceil(Math.log10(max)));
  const y = (ms) => T + (H - T - B) * (1 - Math.log10(Math.max(ms, 0.1) / 0.1) / Math.log10(top / 0.1));
  const x = (i) => L + (W - L - 4) * i / (HISTORY - 1);
  const parts = [];
  for (let d = 0.1; d <= top * 1.0001; d *= 10) {
    parts.push(`<line x1="${L}" x2="${W - 4}" y1="${y(d)}" y2="${y(d)}" stroke="#d8dce1"/>`);
    parts.push(`<text x="${L - 4}" y="${y(d) + 4}" text-anchor="end" font-size="10" fill="#6e7781">${d >= 1 ? d : d.toFixed(1)} ms</text>`);
  }
  parts.push(`<text x="${W - 4}" y="${H - 4}" text-anchor="end" font-size="10" fill="#6e7781">now</text>`);
  parts.push(`<text x="${L}" y="${H - 4}" font-size="10" fill="#6e7781">−${Math.round(HISTORY * POLL_MS / 1000)} s</text>`);
  const legend = $("#legend");
  legend.replaceChildren();
  paths.forEach((p, k) => {
    const color = COLORS[k % COLORS.length];
    const pts = history[p];
    const offset = HISTORY - pts.length;
    for (const [key, dash] of [["p50", ""], ["p99", "5,3"]]) {
      const line = pts.map((pt, i) => pt[key] === null ? null : `${x(offset + i).toFixed(1)},${y(pt[key]).toFixed(1)}`)
        .filter((s) => s !== null).join(" ");
      if (line) parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" stroke-dasharray="${dash}" points="${line}"/>`);
    }
    const span = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = color;
    span.append(swatch, `${p} (solid p50, dashed p99)`);
    legend.appendChild(span);
  });
  svg.innerHTML = parts.join("");   // numbers and fixed markup only; path names go via textContent
}

// "3/8 in flight · 12.0/20 tokens at 5/s · redis · 0 shed"; concurrency even with no QPS limit.
function quotaText(q) {
  if (q === undefined || q === null) return "–";
  if (typeof q !== "object") return String(q);
  const parts = [`${q.in_flight}/${q.max_concurrent} in flight`];
  if (q.waiting) parts.push(`${q.waiting} waiting`);
  if (q.qps === null || q.qps === undefined) {
    parts.push("no qps limit");
  } else {
    const tokens = q.tokens === null || q.tokens === undefined ? "?" : q.tokens.toFixed(1);
    parts.push(`${tokens}/${q.burst} tokens at ${q.qps}/s`);
    parts.push(q.degraded ? "local (redis down)" : q.store);
  }
  parts.push(`${q.sheds} shed`);
  return parts.join(" · ");
}

function render(s) {
  const ready = $("#ready");
  ready.textContent = s.draining ? "draining" : s.ready ? "ready" : "not ready";
  ready.className = "badge " + (s.ready ? "ok" : s.draining ? "warn" : "bad");
  $("#meta").textContent = `v${s.version} · up ${Math.round(s.uptime_s)} s`;
  fill($("#models tbody"), s.models.loaded, (tr, m) => {
    cell(tr, m.name); cell(tr, m.task); cell(tr, s.models.queue[m.name] ?? 0);
  });
  const err = $("#models-error");
  err.hidden = !s.models.error;
  err.textContent = s.models.error ? `load failed: ${s.models.error}` : "";
  $("#central-none").hidden = s.central !== null;
  fill($("#central tbody"), s.central ? s.central.providers : [], (tr, p) => {
    cell(tr, p.name || p.url || "central");
    const b = cell(tr, p.breaker, "breaker");
    b.style.color = p.breaker === "closed" ? "#1a7f37" : p.breaker === "open" ? "#cf222e" : "#bf8700";
    const quota = cell(tr, quotaText(p.quota), "quota");
    if (p.quota && p.quota.degraded) quota.style.color = "#bf8700";
    cell(tr, (p.tasks || []).join(", "));
  });
  const totals = $("#totals");
  totals.replaceChildren();
  for (const [route, n] of Object.entries(s.requests).sort()) {
    const span = document.createElement("span");
    span.dataset.route = route;
    span.className = "req-total";
    span.textContent = `${route}: ${n} requests`;
    totals.appendChild(span);
  }
  fill($("#latency tbody"), s.latency, (tr, row) => {
    tr.dataset.path = row.path;
    cell(tr, row.path); cell(tr, row.count, "count"); cell(tr, row.p50_ms, "p50"); cell(tr, row.p99_ms, "p99");
  });
  fill($("#recent tbody"), s.recent, (tr, e) => {
    cell(tr, new Date(e.at * 1000).toLocaleTimeString()); cell(tr, e.method); cell(tr, e.path);
    cell(tr, e.status); cell(tr, e.route); cell(tr, e.reason); cell(tr, e.latency_ms); cell(tr, e.request_id);
  });
  snapshots.push({ t: Date.now(), buckets: Object.fromEntries(s.latency.map((r) => [r.path, r.buckets])) });
  if (snapshots.length > WINDOW + 1) snapshots.shift();
  for (const row of s.latency) {
    const pts = (history[row.path] = history[row.path] || []);
    pts.push(windowed(row.path));
    if (pts.length > HISTORY) pts.shift();
  }
  drawChart();
}

async function poll() {
  try {
    const response = await fetch("/status.json", { cache: "no-store" });
    render(await response.json());
    document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1);
  } catch (e) {
    const ready = $("#ready");
    ready.textContent = "unreachable";
    ready.className = "badge bad";
  }
  setTimeout(poll, POLL_MS);
}

$("#explain").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const out = $("#explain-out");
  let body;
  try {
    body = JSON.parse(form.body.value);
  } catch (e) {
    out.textContent = `not JSON: ${e.message}`;
    return;
  }
  if (form.model.value) body.model = form.model.value;
  const headers = { "Content-Type": "application/json" };
  if (form.key.value) headers.Authorization = `Bearer ${form.key.value}`;
  const response = await fetch("/v1/route", { method: "POST", headers, body: JSON.stringify(body) });
  const answer = await response.json();
  const d = answer.decision;
  out.className = "";
  out.textContent = d
    ? `→ ${d.target} (${d.reason})${d.message ? ": " + d.message : ""}\n\n${JSON.stringify(answer, null, 2)}`
    : `${response.status}: ${JSON.stringify(answer, null, 2)}`;
});

poll();
