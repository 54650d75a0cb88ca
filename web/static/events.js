// The events panel: the analytics events (zones, lines, appearances) of
// the session on screen, live from GET /api/events (Server-Sent Events),
// newest first. Shown for sessions with zones or lines, or once an event
// came. Kept apart from app.js; it reads app.js's state and zones.js's.
"use strict";

(() => {
  const debug = document.getElementById("debug");
  if (!debug) return;
  const panel = document.createElement("details");
  panel.id = "events-panel";
  panel.open = true;
  panel.hidden = true;
  panel.innerHTML = '<summary>Events (<span id="events-count">0</span>)</summary><ol id="events-list"></ol>';
  debug.before(panel);
  const list = panel.querySelector("#events-list");
  const kinds = ["appeared", "occluded", "reappeared", "left", "zone_enter", "zone_leave", "dwell", "line_cross"];
  const maxShown = 50;
  const ev = { session: null, src: null, seen: [], count: 0 };
  window.vidseg.events = ev;

  function text(e) {
    let s = `${new Date(e.wall).toLocaleTimeString()} object ${e.object} ${e.kind.replace("_", " ")}`;
    if (e.zone) s += ` ${e.zone}`;
    if (e.line) s += ` ${e.line}${e.direction ? " (" + e.direction + ")" : ""}`;
    if (e.dwellMs) s += ` after ${(e.dwellMs / 1000).toFixed(1)} s`;
    return s + ` (frame ${e.frame})`;
  }

  function add(e) {
    ev.seen.push(e);
    if (ev.seen.length > maxShown) ev.seen.shift();
    ev.count++;
    const li = document.createElement("li");
    li.dataset.kind = e.kind;
    li.textContent = text(e);
    list.prepend(li);
    while (list.children.length > maxShown) list.lastChild.remove();
    panel.querySelector("#events-count").textContent = ev.count;
    panel.hidden = false;
  }

  function stop() {
    if (ev.src) ev.src.close();
    ev.src = null;
  }

  // follow keeps one stream open for the session on screen.
  function follow() {
    const st = window.vidseg, id = st.sessionId;
    if (id !== ev.session) {
      stop();
      ev.session = id;
      ev.seen = [];
      ev.count = 0;
      list.textContent = "";
      panel.querySelector("#events-count").textContent = "0";
    }
    const z = st.zones;
    const geo = z && z.session === id && (z.geo.zones.length > 0 || z.geo.lines.length > 0);
    panel.hidden = !id || (!geo && ev.count === 0);
    if (!id || st.lost) { stop(); return; }
    if (!ev.src && geo) {
      ev.src = new EventSource(`/api/events?session=${encodeURIComponent(id)}`);
      for (const k of kinds) ev.src.addEventListener(k, (m) => { if (ev.session === id) add(JSON.parse(m.data)); });
    }
  }
  setInterval(follow, 500);
})();
