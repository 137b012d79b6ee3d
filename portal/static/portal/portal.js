// The portal's one script: a box marked data-poll="URL" is refreshed from
// that URL every few seconds (a run's progress); when the new box says it is
// finished, the page reloads to show the results. Without JavaScript the
// page still works: reload it by hand.
(function () {
  "use strict";
  var INTERVAL_MS = 3000;
  function poll(box) {
    var url = box.getAttribute("data-poll");
    if (!url) { return; }
    window.setTimeout(function () {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (html === null) { poll(box); return; }
          var holder = document.createElement("div");
          holder.innerHTML = html;
          var fresh = holder.firstElementChild;
          if (!fresh) { poll(box); return; }
          box.replaceWith(fresh);
          if (fresh.hasAttribute("data-finished")) { window.location.reload(); } else { poll(fresh); }
        })
        .catch(function () { poll(box); });
    }, INTERVAL_MS);
  }
  document.querySelectorAll("[data-poll]").forEach(poll);
})();
