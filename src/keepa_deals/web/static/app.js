/* keepa-deals dashboard: the detail drawer and the charts (hand-drawn SVG; no libraries,
 * no network beyond this server).  The pages work without it. */
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";

  function el(name, attrs, parent) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (parent) parent.appendChild(node);
    return node;
  }

  function titled(node, text) {
    el("title", {}, node).textContent = text;
    return node;
  }

  const fmt = new Intl.NumberFormat("en-US");
  const timeFmt = new Intl.DateTimeFormat("en-GB", {
    month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZone: "UTC",
  });
  const hourFmt = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", timeZone: "UTC" });
  const dayFmt = new Intl.DateTimeFormat("en-GB", { month: "short", day: "numeric", timeZone: "UTC" });

  /* ---- the detail drawer ------------------------------------------------------ */

  function setupDrawer() {
    const drawer = document.getElementById("drawer");
    if (!drawer) return;
    const body = document.getElementById("drawer-body");
    const close = drawer.querySelector(".drawer-close");
    let opener = null;

    function hide() {
      drawer.hidden = true;
      body.innerHTML = "";
      document.body.style.overflow = "";
      if (opener) opener.focus();
      opener = null;
    }

    async function show(link) {
      opener = link;
      body.innerHTML = '<p class="muted">Loading…</p>';
      drawer.hidden = false;
      document.body.style.overflow = "hidden";
      close.focus();
      try {
        const url = new URL(link.getAttribute("href"), window.location.href);
        url.searchParams.set("partial", "1");
        const res = await fetch(url, { headers: { Accept: "text/html" }, credentials: "same-origin" });
        body.innerHTML = await res.text();
      } catch (err) {
        body.innerHTML = '<p class="error">Could not load the deal.</p>';
      }
      const heading = body.querySelector("h2, h1");
      if (heading) heading.setAttribute("tabindex", "-1");
    }

    document.addEventListener("click", function (event) {
      const link = event.target.closest("a.detail-link");
      if (!link || event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
      event.preventDefault();
      show(link);
    });
    close.addEventListener("click", hide);
    drawer.addEventListener("click", function (event) {
      if (event.target === drawer) hide();
    });
    document.addEventListener("keydown", function (event) {
      if (drawer.hidden) return;
      if (event.key === "Escape") {
        event.preventDefault();
        hide();
      } else if (event.key === "Tab") {
        // Keep the focus inside the drawer while it is open.
        const items = drawer.querySelectorAll("a[href], button, [tabindex]:not([tabindex='-1'])");
        if (!items.length) return;
        const first = items[0], last = items[items.length - 1];
        if (event.shiftKey && document.activeElement === first) { event.preventDefault(); last.focus(); }
        else if (!event.shiftKey && document.activeElement === last) { event.preventDefault(); first.focus(); }
      }
    });
  }

  /* ---- charts ------------------------------------------------------------------ */

  // The chart is drawn at the figure's own width (so text keeps its size on a phone).
  let W = 900;
  const H = 260, M = { top: 14, right: 16, bottom: 28, left: 56 };

  function fit(figure) {
    W = Math.max(300, Math.round(figure.clientWidth || 900));
  }

  function niceTicks(lo, hi, count) {
    if (hi === lo) { hi = lo + 1; lo = lo - 1; }
    const span = hi - lo;
    const step0 = Math.pow(10, Math.floor(Math.log10(span / count)));
    const err = (count * step0) / span;
    const step = step0 * (err <= 0.15 ? 10 : err <= 0.35 ? 5 : err <= 0.75 ? 2 : 1);
    const ticks = [];
    for (let v = Math.floor(lo / step) * step; v < hi + step - 1e-9; v += step) ticks.push(Math.round(v * 1e6) / 1e6);
    return ticks;
  }

  /* Axes and grid; ``band`` px at the bottom of the plot are left for bars. */
  function frame(figure, data, yLo, yHi, label, band) {
    band = band || 0;
    figure.innerHTML = "";
    const svg = el("svg", {
      viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label, preserveAspectRatio: "xMidYMid meet",
    }, figure);
    const t0 = Date.parse(data.start), t1 = Date.parse(data.end);
    const ticks = niceTicks(yLo, yHi, 5);
    const lo = Math.min(yLo, ticks[0]), hi = Math.max(yHi, ticks[ticks.length - 1]);
    const x = (t) => M.left + ((t - t0) / Math.max(1, t1 - t0)) * (W - M.left - M.right);
    const bottom = H - M.bottom - band;
    const y = (v) => bottom - ((v - lo) / Math.max(1e-9, hi - lo)) * (bottom - M.top);
    const grid = el("g", { class: "grid" }, svg);
    const axis = el("g", { class: "axis" }, svg);
    for (const v of ticks) {
      el("line", { x1: M.left, x2: W - M.right, y1: y(v), y2: y(v) }, grid);
      el("text", { x: M.left - 8, y: y(v) + 4, "text-anchor": "end" }, axis).textContent = fmt.format(v);
    }
    const spanH = (t1 - t0) / 3600e3;
    const stepH = spanH <= 8 ? 1 : spanH <= 30 ? 4 : spanH <= 24 * 8 ? 24 : 24 * 7;
    const first = Math.ceil(t0 / (stepH * 3600e3)) * stepH * 3600e3;
    for (let t = first; t <= t1; t += stepH * 3600e3) {
      el("line", { x1: x(t), x2: x(t), y1: H - M.bottom, y2: H - M.bottom + 4 }, axis);
      el("text", { x: x(t), y: H - 8, "text-anchor": "middle" }, axis).textContent =
        (stepH >= 24 ? dayFmt : hourFmt).format(new Date(t));
    }
    el("line", { x1: M.left, x2: W - M.right, y1: H - M.bottom, y2: H - M.bottom }, axis);
    return { svg, x, y, lo, hi, t0, t1, bottom };
  }

  function empty(c, text) {
    el("text", { class: "empty", x: W / 2, y: H / 2, "text-anchor": "middle" }, c.svg).textContent = text;
  }

  function pathOf(points, c, key) {
    let d = "";
    for (const p of points) {
      if (p[key] === null || p[key] === undefined) continue;
      d += (d ? "L" : "M") + c.x(Date.parse(p.at)).toFixed(1) + "," + c.y(p[key]).toFixed(1);
    }
    return d;
  }

  function drawTokens(figure, data) {
    fit(figure);
    const pts = data.points;
    const values = pts.flatMap((p) => [p.low, p.high, p.balance]).filter((v) => v !== null);
    const lo = Math.min(data.floor, ...values, 0);
    const hi = Math.max(0, ...values, data.floor + 10);
    const summary = pts.length
      ? `Token balance over the window: latest ${fmt.format(pts[pts.length - 1].balance)}, ` +
        `lowest ${fmt.format(Math.min(...values))}; floor ${data.floor}; ` +
        `${data.recharge_periods.length} period(s) waiting for tokens`
      : "No token balance recorded in this window";
    const c = frame(figure, data, lo, hi, summary);
    const shade = el("g", { class: "periods" }, c.svg);
    for (const p of data.recharge_periods) {
      const a = c.x(Date.parse(p.start)), b = c.x(Date.parse(p.end));
      titled(el("rect", {
        class: "recharge", x: a, y: M.top, width: Math.max(2, b - a), height: H - M.top - M.bottom,
      }, shade), `Waiting for tokens (${p.source}): ${timeFmt.format(new Date(p.start))} – ` +
        `${p.ongoing ? "now" : timeFmt.format(new Date(p.end))} UTC`);
    }
    titled(el("line", { class: "floor", x1: M.left, x2: W - M.right, y1: c.y(data.floor), y2: c.y(data.floor) }, c.svg),
      `Floor: ${data.floor}`);
    el("text", { class: "label", x: W - M.right - 4, y: c.y(data.floor) - 5, "text-anchor": "end" }, c.svg)
      .textContent = `floor ${data.floor}`;
    if (!pts.length) { empty(c, "No token balance recorded in this window."); return; }
    if (pts.some((p) => p.low !== p.high)) {
      let band = "";
      pts.forEach((p, i) => { band += (i ? "L" : "M") + c.x(Date.parse(p.at)).toFixed(1) + "," + c.y(p.high).toFixed(1); });
      for (let i = pts.length - 1; i >= 0; i--) band += "L" + c.x(Date.parse(pts[i].at)).toFixed(1) + "," + c.y(pts[i].low).toFixed(1);
      el("path", { class: "range", d: band + "Z" }, c.svg);
    }
    el("path", { class: "series", d: pathOf(pts, c, "balance") }, c.svg);
    const dots = el("g", { class: "dots" }, c.svg);
    for (const p of pts) {
      titled(el("circle", { class: "dot", cx: c.x(Date.parse(p.at)), cy: c.y(p.balance), r: pts.length > 120 ? 1.5 : 3 }, dots),
        `${timeFmt.format(new Date(p.at))} UTC: ${fmt.format(p.balance)} tokens` +
        (p.refill_rate !== null ? ` (${p.refill_rate}/min)` : ""));
    }
  }

  function bucketRuns(runs, data, n) {
    if (runs.length <= n) return runs.map((r) => ({ at: Date.parse(r.started_at), added: r.added, removed: r.removed, runs: 1 }));
    const t0 = Date.parse(data.start), t1 = Date.parse(data.end), size = (t1 - t0) / n;
    const out = [];
    for (let i = 0; i < n; i++) out.push({ at: t0 + (i + 0.5) * size, added: 0, removed: 0, runs: 0 });
    for (const r of runs) {
      const i = Math.min(n - 1, Math.max(0, Math.floor((Date.parse(r.started_at) - t0) / size)));
      out[i].added += r.added; out[i].removed += r.removed; out[i].runs += 1;
    }
    return out.filter((b) => b.runs);
  }

  function drawDeals(figure, data) {
    fit(figure);
    const pts = data.points;
    const bars = bucketRuns(data.runs, data, Math.max(20, Math.floor((W - M.left - M.right) / 8)));
    const counts = pts.map((p) => p.count).concat([data.current]);
    const maxChange = Math.max(1, ...bars.map((b) => Math.max(b.added, b.removed)));
    const cLo = Math.min(...counts), cHi = Math.max(...counts);
    const added = bars.reduce((s, b) => s + b.added, 0), removed = bars.reduce((s, b) => s + b.removed, 0);
    const summary = `Deal count: ${fmt.format(data.current)} now; ${data.runs.length} run(s) in the ` +
      `window added ${fmt.format(added)} and removed ${fmt.format(removed)} deals`;
    // The count above; each run's changes in a band below it: added up, removed down.
    const BAND = 86, GAP = 16;
    const c = frame(figure, data, Math.max(0, cLo - (cHi - cLo) * 0.1 - 1), cHi + (cHi - cLo) * 0.1 + 1, summary, BAND);
    const half = (BAND - GAP) / 2;
    const base = H - M.bottom - half;
    const scale = (half - 3) / maxChange;
    const g = el("g", { class: "changes" }, c.svg);
    el("line", { class: "baseline", x1: M.left, x2: W - M.right, y1: base, y2: base }, g);
    el("text", { class: "label", x: M.left - 8, y: base - half + 9, "text-anchor": "end" }, g).textContent = `+${fmt.format(maxChange)}`;
    el("text", { class: "label", x: M.left - 8, y: base + half - 1, "text-anchor": "end" }, g).textContent = `−${fmt.format(maxChange)}`;
    el("text", { class: "label", x: M.left - 8, y: base + 4, "text-anchor": "end" }, g).textContent = "per run";
    const width = Math.max(2, Math.min(12, (W - M.left - M.right) / Math.max(1, bars.length) - 2));
    for (const b of bars) {
      const bx = c.x(b.at) - width / 2;
      const when = timeFmt.format(new Date(b.at)) + " UTC" + (b.runs > 1 ? ` (${b.runs} runs)` : "");
      if (b.added) titled(el("rect", { class: "added", x: bx, y: base - b.added * scale, width, height: Math.max(1, b.added * scale) }, g),
        `${when}: +${fmt.format(b.added)} added`);
      if (b.removed) titled(el("rect", { class: "removed", x: bx, y: base, width, height: Math.max(1, b.removed * scale) }, g),
        `${when}: −${fmt.format(b.removed)} removed`);
    }
    if (!pts.length && !bars.length) { empty(c, "No deal counts recorded in this window."); return; }
    el("path", { class: "series", d: pathOf(pts, c, "count") }, c.svg);
    const dots = el("g", { class: "dots" }, c.svg);
    for (const p of pts) {
      titled(el("circle", { class: "dot", cx: c.x(Date.parse(p.at)), cy: c.y(p.count), r: pts.length > 120 ? 1.5 : 3 }, dots),
        `${timeFmt.format(new Date(p.at))} UTC: ${fmt.format(p.count)} deals`);
    }
  }

  const DRAW = { tokens: drawTokens, deals: drawDeals };

  function readEmbedded(kind) {
    const node = document.getElementById("series-" + kind);
    return node ? JSON.parse(node.textContent) : null;
  }

  async function refresh(figure) {
    const kind = figure.dataset.kind;
    try {
      const res = await fetch(`/api/series/${kind}?hours=${encodeURIComponent(figure.dataset.hours)}`,
        { credentials: "same-origin" });
      if (res.ok) draw(figure, await res.json());
    } catch (err) { /* keep the last drawing */ }
  }

  const latest = new Map();

  function draw(figure, data) {
    latest.set(figure, data);
    DRAW[figure.dataset.kind](figure, data);
  }

  function setupCharts() {
    const figures = document.querySelectorAll("figure.chart[data-kind]");
    for (const figure of figures) {
      const data = readEmbedded(figure.dataset.kind);
      if (data) draw(figure, data);
    }
    if (!figures.length) return;
    setInterval(() => { if (!document.hidden) figures.forEach(refresh); }, 60000);
    let pending = null;
    window.addEventListener("resize", () => {
      clearTimeout(pending);
      pending = setTimeout(() => latest.forEach((data, figure) => draw(figure, data)), 150);
    });
  }

  function setupFilters() {
    // On a phone the filters fold away until asked for (unless some are on).
    const box = document.getElementById("filter-box");
    if (!box) return;
    const anyOn = Array.from(box.querySelectorAll("input:not([type=hidden]), select")).some((f) => f.value);
    if (window.matchMedia("(max-width: 760px)").matches && !anyOn) box.open = false;
  }

  /* ---- the live list: "N new deals" without a reload ------------------------------ */

  function setupNewDeals() {
    const notice = document.getElementById("new-deals");
    if (!notice || !notice.dataset.since) return;
    const text = document.getElementById("new-deals-text");
    const every = Math.max(2, Number(notice.dataset.pollS) || 10) * 1000;
    let busy = false;
    async function poll() {
      if (busy || document.hidden) return;
      busy = true;
      try {
        const res = await fetch("/api/deals/new?since=" + encodeURIComponent(notice.dataset.since),
          { credentials: "same-origin", headers: { Accept: "application/json" } });
        if (res.ok) {
          const body = await res.json();
          if (body.count > 0) {
            const n = body.count >= 1000 ? "1,000+" : fmt.format(body.count);
            text.textContent = `${n} new deal${body.count === 1 ? "" : "s"} since you opened this page.`;
            notice.hidden = false;
          }
        }
      } catch (err) { /* try again at the next tick */ }
      busy = false;
    }
    setInterval(poll, every);
    document.addEventListener("visibilitychange", poll);
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupNewDeals();
    setupFilters();
    setupDrawer();
    setupCharts();
  });
})();
