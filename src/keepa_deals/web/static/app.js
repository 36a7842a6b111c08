/* keepa-deals dashboard: the detail drawer and the filters (the charts are in charts.js).
 * No network beyond this server; the pages work without it. */
"use strict";

(function () {
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

  function setupFilters() {
    // On a phone the filters fold away until asked for (unless some are on).
    const box = document.getElementById("filter-box");
    if (!box) return;
    const anyOn = Array.from(box.querySelectorAll("input:not([type=hidden]), select")).some((f) => f.value);
    if (window.matchMedia("(max-width: 760px)").matches && !anyOn) box.open = false;
  }

  /* ---- the live list: "N new deals" without a reload ------------------------------ */

  const fmt = new Intl.NumberFormat("en-US");

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
  });
})();
