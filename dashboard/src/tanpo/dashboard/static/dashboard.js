// tanpo dashboard: re-read the open page when the ledger changes (server-sent events from
// /live, fed by the dashboard's one chaincode event stream). No library: the server renders
// the page's <main> again and this swaps it in.
"use strict";
(function () {
  var main = document.getElementById("main");
  var live = document.getElementById("live");
  if (!main || !window.EventSource) { return; }
  var pending = false;
  var busy = false;

  function editing() {
    // never replace a form the user is filling in: refresh once focus leaves it
    var el = document.activeElement;
    return el && main.contains(el) && /^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName);
  }

  function refresh() {
    if (busy || editing()) { pending = true; return; }
    busy = true;
    pending = false;
    fetch(window.location.href, { headers: { "X-Fragment": "main" }, cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        main.innerHTML = html;
        document.body.dataset.refreshed = String(Date.now());
      })
      .catch(function () { pending = true; })
      .finally(function () { busy = false; if (pending) { setTimeout(refresh, 500); } });
  }

  function show(data) {
    if (!live) { return; }
    live.dataset.status = data.status.split(" ")[0];
    live.textContent = data.status + (data.block ? " · block " + data.block : "");
    document.body.dataset.generation = String(data.generation);
  }

  main.addEventListener("focusout", function () {
    setTimeout(function () { if (pending && !editing()) { refresh(); } }, 0);
  });

  var source = new EventSource("/live");
  source.addEventListener("status", function (e) { show(JSON.parse(e.data)); });
  source.addEventListener("ledger", function (e) { show(JSON.parse(e.data)); refresh(); });
  source.onerror = function () {
    if (live) { live.dataset.status = "reconnecting"; live.textContent = "reconnecting to the dashboard"; }
  };
})();
