// Live progress of a Sync All or replay: polls the job's JSON and updates the numbers;
// opens the review when every record has its result. Without JavaScript the page
// refreshes itself (<noscript> meta refresh) instead.
(function () {
  "use strict";
  var box = document.getElementById("progress");
  if (!box) { return; }
  var url = box.getAttribute("data-url");
  function set(id, value) {
    var el = document.getElementById(id);
    if (el) { el.textContent = String(value); }
  }
  function tick() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (p) {
        set("n-extracted", p.extracted);
        set("n-posted", p.posted);
        set("n-failed", p.failed);
        set("n-held", p.held);
        set("state", p.extracting ? "extracting" : "posting");
        set("error", p.error || "");
        if (p.review_url) { window.location.assign(p.review_url); return; }
        if (p.finished) { set("state", "stopped"); return; }
        window.setTimeout(tick, 400);
      })
      .catch(function () { window.setTimeout(tick, 2000); });
  }
  tick();
})();
