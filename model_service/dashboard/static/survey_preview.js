// The survey editor's preview: the real widget.js draws the draft survey. The widget's calls
// to the survey API are answered here, from the localized draft written into the page, so the
// preview needs no survey service, spends no visitor's impression and stores no answer.
(function () {
  "use strict";
  var script = document.currentScript;
  var key = script.getAttribute("data-survey");
  var base = script.getAttribute("data-api");
  var realFetch = window.fetch.bind(window);

  function reply(body, status) {
    var text = body === null ? null : JSON.stringify(body);
    return Promise.resolve(
      new Response(text, { status: status || 200, headers: { "Content-Type": "application/json" } }),
    );
  }

  window.fetch = function (input, init) {
    var url = typeof input === "string" ? input : input.url;
    if (url.indexOf(base + "/") !== 0) return realFetch(input, init);
    var parsed = new URL(url);
    var path = url.slice(base.length).split("?")[0];
    if (/\/eligibility$/.test(path)) return reply({ eligible: true, reason: "ok" });
    if (path === "/v1/surveys/" + encodeURIComponent(key)) {
      var surveys = JSON.parse(document.getElementById("kundresa-preview").textContent);
      return reply(surveys[parsed.searchParams.get("locale")] || surveys.en);
    }
    // An answer, "started" or an event: a preview keeps nothing; the page notes the answer.
    if (path === "/v1/responses") document.documentElement.setAttribute("data-preview-answered", "true");
    return reply(null, 204);
  };

  // The widget shows one survey per browser session; every preview is a first visit.
  try {
    window.sessionStorage.removeItem("kundresa.shown");
  } catch (_) {
    // Storage blocked: the widget then keeps its state in memory only.
  }
  window.Kundresa = [["show", key]];
})();
