// The inspector's page: live rows from server-sent events, row details,
// and the action buttons. Rows arrive rendered (and escaped) by the server.
"use strict";
(function () {
  const live = document.getElementById("live");
  const status = document.getElementById("action-status");
  const deliveries = document.getElementById("deliveries");
  const jobs = document.querySelector("#jobs tbody");
  // A job's page: its timeline and artifacts, redrawn when the job changes.
  const jobView = document.getElementById("job-view");

  function say(text) { if (status) { status.textContent = text; } }

  function post(url, params) {
    say("…");
    return fetch(url, {
      method: "POST",
      headers: { "X-Inspector": "1", "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(params),
    }).then(function (r) { return r.json(); }).then(function (j) {
      say(j.message || (j.error.code + ": " + j.error.message));
    }).catch(function (e) { say("failed: " + e); });
  }

  // refreshJob fetches the job's page again and swaps in its content:
  // the server renders (and escapes) it, as it does the rows.
  function refreshJob() {
    fetch(location.href, { headers: { Accept: "text/html" } }).then(function (r) {
      return r.ok ? r.text() : null;
    }).then(function (html) {
      if (!html) { return; }
      const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("job-view");
      if (fresh) { jobView.replaceChildren(...fresh.childNodes); }
    });
  }

  if (deliveries || jobs || jobView) {
    const es = new EventSource("/events");
    es.onopen = function () { live.textContent = "live"; live.classList.add("on"); };
    es.onerror = function () { live.textContent = "reconnecting…"; live.classList.remove("on"); };
    es.addEventListener("delivery", function (e) {
      if (!deliveries) { return; }
      deliveries.tHead.insertAdjacentHTML("afterend", e.data);
      const empty = document.querySelector(".empty");
      if (empty) { empty.hidden = true; }
    });
    es.addEventListener("job", function (e) {
      const id = (/id="([^"]+)"/.exec(e.data) || [])[1];
      if (jobView && id === jobView.dataset.job) { refreshJob(); }
      if (!jobs) { return; }
      const old = id && document.getElementById(id);
      if (old) { old.remove(); }
      jobs.insertAdjacentHTML("afterbegin", e.data);
    });
  }

  document.addEventListener("click", function (e) {
    const toggle = e.target.closest("button[data-toggle]");
    if (toggle) {
      const row = document.getElementById(toggle.dataset.toggle);
      const open = toggle.getAttribute("aria-expanded") !== "true";
      row.hidden = !open;
      toggle.setAttribute("aria-expanded", String(open));
      toggle.textContent = open ? "Hide" : "Details";
      return;
    }
    const replay = e.target.closest("button[data-replay]");
    if (replay) { post("/actions/replay", { seq: replay.dataset.replay }); return; }
    if (e.target.closest("button[data-reconcile]")) { post("/actions/reconcile", {}); }
  });

  const send = document.getElementById("send");
  if (send) {
    send.addEventListener("submit", function (e) {
      e.preventDefault();
      post("/actions/send", { type: send.elements.type.value });
    });
  }
})();
