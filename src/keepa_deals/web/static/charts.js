/* keepa-deals charts, drawn with uPlot (static/vendor/uplot, MIT; no network beyond this
 * server): a deal's price and rank history (deal_history.html), and the health page's
 * token balance and deal count (health.html).  Every chart has a table or a summary in
 * the page that shows without JavaScript; the charts carry an aria-label in words. */
"use strict";

(function () {
  if (typeof uPlot === "undefined") return;

  const fmt = new Intl.NumberFormat("en-US");
  const dayFmt = new Intl.DateTimeFormat("en-GB", { year: "numeric", month: "short", day: "numeric", timeZone: "UTC" });
  const timeFmt = new Intl.DateTimeFormat("en-GB", { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZone: "UTC" });
  const CURRENCIES = {
    1: ["$", 100], 2: ["£", 100], 3: ["€", 100], 4: ["€", 100], 5: ["¥", 1], 6: ["C$", 100],
    8: ["€", 100], 9: ["€", 100], 10: ["₹", 100], 11: ["MX$", 100], 12: ["R$", 100],
  };
  const dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  const C = dark ? {
    amazon: "#fb923c", new: "#6b9cff", used: "#4ade80", buy_box: "#c084fc", rank: "#e6e8ec",
    buy: "#f87171", sale: "#2dd4bf", axis: "#9aa2b1", grid: "#2c313b", line: "#6b9cff",
    cap: "#9aa2b1", floor: "#f87171", recharge: "rgba(251,191,36,0.16)", band: "rgba(107,156,255,0.25)", good: "#4ade80", bad: "#f87171",
  } : {
    amazon: "#c2410c", new: "#1d4ed8", used: "#15803d", buy_box: "#7e22ce", rank: "#1a1d23",
    buy: "#b91c1c", sale: "#0f766e", axis: "#5f6673", grid: "#dfe3ea", line: "#1d4ed8",
    cap: "#5f6673", floor: "#b91c1c", recharge: "rgba(180,83,9,0.16)", band: "rgba(29,78,216,0.18)", good: "#15803d", bad: "#b91c1c",
  };

  function money(domain) {
    const [sym, minor] = CURRENCIES[domain] || ["$", 100];
    const digits = minor === 1 ? 0 : 2;
    return (v) => v == null ? "–" : (v < 0 ? "−" : "") + sym +
      (Math.abs(v) / minor).toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }
  const count = (v) => v == null ? "–" : fmt.format(Math.round(v));

  function widthOf(host) {
    return Math.max(260, Math.floor(host.getBoundingClientRect().width || host.parentNode.clientWidth || 600));
  }

  function axis(values, extra) {
    return Object.assign({ stroke: C.axis, grid: { stroke: C.grid, width: 1 }, ticks: { stroke: C.grid }, values }, extra || {});
  }

  const charts = new Set();
  window.addEventListener("resize", () => {
    for (const u of charts) {
      if (!document.body.contains(u.root)) { charts.delete(u); continue; }
      u.setSize({ width: widthOf(u.root.parentNode), height: u.height });
    }
  });

  /* ---- a deal's history ---------------------------------------------------------- */

  /* The series on one time axis: each value holds until its series' next point (Keepa's
   * history is a step function), null where there was no offer; the last value runs to now. */
  function align(series, end) {
    const xs = Array.from(new Set(series.flatMap((s) => s.points.map((p) => p[0])).concat([end])))
      .filter((t) => t <= end).sort((a, b) => a - b);
    const cols = series.map((s) => {
      const out = new Array(xs.length).fill(null);
      let j = 0, cur = null;
      for (let i = 0; i < xs.length; i++) {
        while (j < s.points.length && s.points[j][0] <= xs[i]) { cur = s.points[j][1]; j++; }
        out[i] = cur;
      }
      return out;
    });
    return [xs].concat(cols);
  }

  function describe(series, from, to, show) {
    return series.map((s) => {
      const vals = s.points.filter((p) => p[0] >= from && p[0] <= to && p[1] != null).map((p) => p[1]);
      if (!vals.length) return `${s.label}: no data`;
      return `${s.label} from ${show(Math.min(...vals))} to ${show(Math.max(...vals))}, now ${show(s.points[s.points.length - 1][1])}`;
    }).join("; ");
  }

  async function setupHistory(figure) {
    if (figure.dataset.ready) return;
    figure.dataset.ready = "loading";
    const box = figure.closest("section.history");
    let data;
    try {
      const res = await fetch(`/api/deals/${encodeURIComponent(figure.dataset.asin)}/history?domain=${encodeURIComponent(figure.dataset.domain)}`,
        { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!res.ok) throw new Error(String(res.status));
      data = await res.json();
    } catch (err) {
      figure.dataset.ready = "failed";
      return;  // the table stays open
    }
    const show = money(data.domain_id);
    const end = Math.floor(Date.parse(data.as_of) / 1000);
    const prices = data.series.filter((s) => s.kind === "price");
    const ranks = data.series.filter((s) => s.kind === "rank");
    const counts = data.series.filter((s) => s.kind === "count");
    const made = [];
    const sync = uPlot.sync("history-" + data.asin);
    const cursor = { sync: { key: sync.key }, points: { size: 7 } };

    figure.hidden = false;  // hidden until drawn: without JavaScript the table stands alone
    const priceHost = figure.querySelector(".chart-prices");
    if (prices.length) {
      const cols = align(prices, end);
      const refs = [];
      if (data.buy_price_cents != null) refs.push({ label: "Buy price", value: data.buy_price_cents, stroke: C.buy });
      if (data.sale_price_cents != null) refs.push({ label: "Expected sale", value: data.sale_price_cents, stroke: C.sale });
      for (const r of refs) cols.push(new Array(cols[0].length).fill(r.value));
      const u = new uPlot({
        width: widthOf(priceHost), height: 250, cursor,
        scales: { x: { time: true } },
        axes: [axis(), axis((u, ticks) => ticks.map(show), { size: 72 }),
          // an empty right axis as wide as the rank chart's, so the two time axes line up
          { side: 1, size: 50, stroke: C.axis, grid: { show: false }, ticks: { show: false }, values: (u, ticks) => ticks.map(() => "") }],
        series: [{ value: (u, v) => v == null ? "–" : dayFmt.format(new Date(v * 1000)) }]
          .concat(prices.map((s) => ({
            label: s.label, stroke: C[s.name] || C.line, width: 1.75,
            paths: uPlot.paths.stepped({ align: 1 }), value: (u, v) => show(v), points: { show: false },
          })))
          .concat(refs.map((r) => ({ label: r.label, stroke: r.stroke, width: 1.5, dash: [7, 5], value: (u, v) => show(v), points: { show: false } }))),
      }, cols, priceHost);
      priceHost.dataset.points = String(cols[0].length);
      made.push({ u, host: priceHost, series: prices, show, what: "Prices" });
    } else {
      priceHost.remove();
    }

    const rankHost = figure.querySelector(".chart-rank");
    if (ranks.length || counts.length) {
      const both = ranks.concat(counts);
      const cols = align(both, end);
      const u = new uPlot({
        width: widthOf(rankHost), height: 170, cursor,
        scales: { x: { time: true }, rank: { distr: 3 }, count: { range: (u, lo, hi) => [0, Math.max(4, hi + 1)] } },
        axes: [
          axis(),
          axis((u, ticks) => ticks.map((v) => v == null ? "" : v >= 1e6 ? (v / 1e6) + "M" : v >= 1e3 ? (v / 1e3) + "k" : String(v)), { scale: "rank", size: 72 }),
          axis((u, ticks) => ticks.map(count), { scale: "count", side: 1, grid: { show: false }, size: 50 }),
        ],
        series: [{ value: (u, v) => v == null ? "–" : dayFmt.format(new Date(v * 1000)) }]
          .concat(ranks.map((s) => ({ label: s.label, scale: "rank", stroke: C.rank, width: 1.25, value: (u, v) => count(v), points: { show: false } })))
          .concat(counts.map((s) => ({
            label: s.label, scale: "count", stroke: C[s.name.replace("count_", "")] || C.line, width: 1.25, dash: [3, 3],
            paths: uPlot.paths.stepped({ align: 1 }), value: (u, v) => count(v), points: { show: false },
          }))),
      }, cols, rankHost);
      rankHost.dataset.points = String(cols[0].length);
      made.push({ u, host: rankHost, series: both, show: count, what: "Sales rank and offers" });
    } else {
      rankHost.remove();
    }

    for (const m of made) charts.add(m.u);
    const buttons = box ? Array.from(box.querySelectorAll(".history-ranges button[data-days]")) : [];
    function setRange(days) {
      const from = end - days * 86400;
      for (const m of made) {
        m.u.setScale("x", { min: from, max: end });
        m.host.setAttribute("aria-label", `${m.what}, last ${days} days: ${describe(m.series, from, end, m.show)}`);
      }
      for (const b of buttons) b.setAttribute("aria-pressed", String(Number(b.dataset.days) === days));
      figure.dataset.days = String(days);
    }
    for (const b of buttons) b.addEventListener("click", () => setRange(Number(b.dataset.days)));
    const initial = buttons.find((b) => b.getAttribute("aria-pressed") === "true");
    setRange(initial ? Number(initial.dataset.days) : 90);
    if (box) {
      const ranges = box.querySelector(".history-ranges");
      if (ranges) ranges.hidden = false;
      const table = box.querySelector("details.history-table-box");
      if (table) table.open = false;  // the chart shows it; the table stays one click away
    }
    figure.dataset.ready = "drawn";
  }

  function setupHistories(root) {
    for (const figure of root.querySelectorAll("figure.history-chart:not([data-ready])")) setupHistory(figure);
  }

  /* ---- the health page ------------------------------------------------------------ */

  const S = (iso) => Date.parse(iso) / 1000;

  /* The x range: the window, but starting shortly before the first point (a few points
   * at the right edge of an empty 6-hour axis say nothing). */
  function xRange(data, times) {
    const start = S(data.start), end = S(data.end);
    if (!times.length) return [start, end];
    const first = Math.min(...times);
    const pad = Math.max(300, (end - first) * 0.05);
    return [Math.max(start, first - pad), end];
  }

  function shade(periods, fill) {
    return {
      hooks: {
        drawClear: [(u) => {
          const ctx = u.ctx, top = u.bbox.top, h = u.bbox.height;
          ctx.save();
          ctx.fillStyle = fill;
          for (const p of periods) {
            const a = u.valToPos(S(p.start), "x", true), b = u.valToPos(S(p.end), "x", true);
            ctx.fillRect(a, top, Math.max(2, b - a), h);
          }
          ctx.restore();
        }],
      },
    };
  }

  function drawTokens(host, data) {
    const xs = data.points.filter((p) => p.balance != null).map((p) => S(p.at));
    const [lo, hi] = xRange(data, xs);
    const series = [
      { value: (u, v) => v == null ? "–" : timeFmt.format(new Date(v * 1000)) + " UTC" },
      { label: "Balance", stroke: C.line, width: 2, value: (u, v) => count(v), points: { show: true, size: 5, fill: "transparent" } },
      { label: "After a run", stroke: "transparent", value: (u, v) => count(v), points: { show: true, size: 6, fill: C.line, stroke: C.line } },
      { label: "Floor", stroke: C.floor, width: 1.5, dash: [6, 4], value: (u, v) => count(v), points: { show: false } },
    ];
    if (data.cap != null) {
      series.push({ label: "Cap", stroke: C.cap, width: 1.25, dash: [2, 4], value: (u, v) => count(v), points: { show: false } });
    }
    const bands = [];
    if (thinned(data)) {  // a long window thinned to buckets: each one's lowest and highest, as a band
      series.push({ label: "Highest", stroke: C.band, width: 1, value: (u, v) => count(v), points: { show: false } });
      series.push({ label: "Lowest", stroke: C.band, width: 1, value: (u, v) => count(v), points: { show: false } });
      bands.push({ series: [series.length - 2, series.length - 1], fill: C.band });
    }
    return {
      width: widthOf(host), height: 260, plugins: [shade(data.recharge_periods, C.recharge)], bands,
      scales: { x: { time: true, range: () => [lo, hi] },
        y: { range: (u, a, b) => { const top = Math.max(b, data.cap || 0, data.floor + 10); const bottom = Math.min(a, data.floor, 0); const pad = (top - bottom) * 0.06; return [bottom - pad, top + pad]; } } },
      axes: [axis(), axis((u, ticks) => ticks.map(count), { size: 64 })],
      series,
    };
  }

  function tokenCols(data) {
    const pts = data.points.filter((p) => p.balance != null);
    const xs = pts.map((p) => S(p.at));
    const cols = [xs, pts.map((p) => p.balance), pts.map((p) => p.run_start ? null : p.balance), xs.map(() => data.floor)];
    if (data.cap != null) cols.push(xs.map(() => data.cap));
    if (thinned(data)) cols.push(pts.map((p) => p.high), pts.map((p) => p.low));
    return cols;
  }

  const thinned = (data) => data.points.some((p) => p.low != null && p.high != null && p.low !== p.high);

  function dealCols(data) {
    const byTime = new Map();
    for (const p of data.points) byTime.set(S(p.at), { count: p.count, added: null, removed: null });
    for (const r of data.runs) {
      const t = S(r.ended_at || r.started_at);
      const row = byTime.get(t) || { count: null, added: null, removed: null };
      if (r.added) row.added = (row.added || 0) + r.added;
      if (r.removed) row.removed = (row.removed || 0) - r.removed;
      byTime.set(t, row);
    }
    const xs = Array.from(byTime.keys()).sort((a, b) => a - b);
    const now = S(data.end);
    const cols = [xs, xs.map((t) => byTime.get(t).count), xs.map((t) => byTime.get(t).added), xs.map((t) => byTime.get(t).removed)];
    if (!xs.length || xs[xs.length - 1] < now) { cols[0].push(now); cols[1].push(data.current); cols[2].push(null); cols[3].push(null); }
    return cols;
  }

  function drawDeals(host, data) {
    const cols = dealCols(data);
    const [lo, hi] = xRange(data, cols[0].slice(0, -1).length ? cols[0].slice(0, -1) : cols[0]);
    const counts = cols[1].filter((v) => v != null);
    // the page's rule (web/charts.py): below the start, or 5 % (and a deal) below the peak
    const peak = Math.max(...counts), last = counts[counts.length - 1];
    const declining = counts.length > 1 && (last < counts[0] || peak - last >= Math.max(1, peak * 0.05));
    const bars = uPlot.paths.bars({ size: [0.6, 14] });
    let most = 1;  // the largest change of a run: the per-run axis shows ±most only
    return {
      width: widthOf(host), height: 260,
      scales: { x: { time: true, range: () => [lo, hi] }, change: { range: (u, a, b) => { most = Math.max(1, Math.abs(a || 0), Math.abs(b || 0)); return [-most * 2.2, most * 1.1]; } } },
      axes: [axis(), axis((u, ticks) => ticks.map(count), { size: 64 }),
        axis((u, ticks) => ticks.map((v) => Math.abs(v) > most ? "" : (v > 0 ? "+" : v < 0 ? "−" : "") + fmt.format(Math.abs(v))), { scale: "change", side: 1, grid: { show: false }, label: "per run", size: 54 })],
      series: [
        { value: (u, v) => v == null ? "–" : timeFmt.format(new Date(v * 1000)) + " UTC" },
        { label: "Deals", stroke: declining ? C.bad : C.line, width: 2.25, spanGaps: true, value: (u, v) => count(v), points: { show: true, size: 5 } },
        { label: "Added", scale: "change", fill: C.good, stroke: C.good, paths: bars, value: (u, v) => v == null ? "–" : "+" + fmt.format(v), points: { show: false } },
        { label: "Removed", scale: "change", fill: C.bad, stroke: C.bad, paths: bars, value: (u, v) => v == null ? "–" : "−" + fmt.format(-v), points: { show: false } },
      ],
    };
  }

  const HEALTH = {
    tokens: { opts: drawTokens, cols: tokenCols },
    deals: { opts: drawDeals, cols: dealCols },
  };
  const drawn = new Map();

  function drawHealth(figure, data) {
    const kind = HEALTH[figure.dataset.kind];
    const host = figure.querySelector(".chart-host");
    if (!kind || !host) return;
    const old = drawn.get(figure);
    if (old) { charts.delete(old); old.destroy(); }
    const cols = kind.cols(data);
    const u = new uPlot(kind.opts(host, data), cols, host);
    host.dataset.points = String(cols[1].filter((v) => v != null).length);
    charts.add(u);
    drawn.set(figure, u);
    figure.dataset.ready = "drawn";
  }

  async function refreshHealth(figure) {
    try {
      const res = await fetch(`/api/series/${figure.dataset.kind}?hours=${encodeURIComponent(figure.dataset.hours)}`,
        { credentials: "same-origin" });
      if (res.ok) drawHealth(figure, await res.json());
    } catch (err) { /* keep the last drawing */ }
  }

  function setupHealth() {
    const figures = document.querySelectorAll("figure.chart[data-kind]");
    for (const figure of figures) {
      const node = document.getElementById("series-" + figure.dataset.kind);
      if (node) drawHealth(figure, JSON.parse(node.textContent));
    }
    if (figures.length) setInterval(() => { if (!document.hidden) figures.forEach(refreshHealth); }, 60000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupHealth();
    setupHistories(document);
    // the detail drawer inserts a deal's page: draw its history when it arrives
    new MutationObserver(() => setupHistories(document)).observe(document.body, { childList: true, subtree: true });
  });
})();
