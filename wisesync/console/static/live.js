// Keeps a page live: every few seconds fetches the page again and replaces each element
// marked data-live (by id) with the server's fresh rendering of it. The HTML comes from
// the console itself, escaped on the server; DOMParser does not run scripts.
(function () {
  "use strict";
  var parts = document.querySelectorAll("[data-live]");
  if (!parts.length) { return; }
  var every = 2000;
  function refresh() {
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (!r.ok || r.redirected) { throw new Error("stopped"); }
        return r.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        Array.prototype.forEach.call(document.querySelectorAll("[data-live]"), function (el) {
          var next = fresh.getElementById(el.id);
          if (next) { el.replaceWith(document.importNode(next, true)); }
        });
        var stamp = document.getElementById("live-at");
        if (stamp) { stamp.textContent = new Date().toLocaleTimeString(); }
        window.setTimeout(refresh, every);
      })
      .catch(function () { window.setTimeout(refresh, every * 5); });
  }
  window.setTimeout(refresh, every);
})();
