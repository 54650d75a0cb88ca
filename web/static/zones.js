// Zones and lines for analytics events: "Draw zone" / "Draw line" take
// clicks on the video (source pixels) and store them with the session
// (PUT /api/sessions/{id}/zones); the current ones are drawn over the video.
// Kept apart from app.js; it uses app.js's state, toSource() and showError().
"use strict";

(() => {
  const stage = document.getElementById("stage");
  const controls = document.getElementById("controls");
  if (!stage || !controls) return;
  const cv = document.createElement("canvas");
  cv.id = "zones-canvas";
  cv.style.cssText = "position:absolute;left:0;top:0;width:100%;height:100%;pointer-events:none";
  stage.appendChild(cv);
  const bar = document.createElement("span");
  bar.id = "zone-tools";
  bar.innerHTML = '<button type="button" id="draw-zone">Draw zone</button> ' +
    '<button type="button" id="draw-line">Draw line</button> ' +
    '<button type="button" id="finish-shape" hidden>Finish</button> ' +
    '<button type="button" id="clear-zones">Clear zones</button>';
  controls.appendChild(bar);
  // pending counts saves not yet answered.
  const z = { geo: { zones: [], lines: [] }, mode: null, points: [], session: null, pending: 0 };
  window.vidseg.zones = z;
  const $ = (id) => document.getElementById(id);

  async function load() {
    const id = window.vidseg.sessionId;
    if (!id || id === z.session) return;
    z.session = id;
    const res = await fetch(`/api/sessions/${id}/zones`);
    z.geo = res.ok ? await res.json() : { zones: [], lines: [] };
    draw();
  }

  // Each shape builds on the geometry drawn so far, not on the last answer:
  // a line finished while the zone before it was still being stored used to
  // replace the stored zone. Saves go out one at a time, in order, so the
  // server ends with the last one; only the last answer is shown.
  let saving = Promise.resolve(), saves = 0;
  function save(geo) {
    z.geo = geo;
    draw();
    const n = ++saves;
    z.pending++;
    saving = saving.then(() => put(geo, n)).catch((err) => showError("zones: " + err))
      .finally(() => { z.pending--; });
    return saving;
  }

  async function put(geo, n) {
    const res = await fetch(`/api/sessions/${window.vidseg.sessionId}/zones`, {
      method: "PUT", body: JSON.stringify(geo), headers: { "Content-Type": "application/json" },
    });
    const body = await res.json();
    if (!res.ok) {
      showError("zones: " + body.error);
      z.session = null; // show what the server kept
      return;
    }
    if (n === saves) {
      z.geo = body;
      draw();
    }
  }

  function draw() {
    const s = window.vidseg.session;
    const g = cv.getContext("2d");
    cv.width = cv.clientWidth; cv.height = cv.clientHeight;
    g.clearRect(0, 0, cv.width, cv.height);
    if (!s) return;
    const k = cv.width / s.width, kh = cv.height / s.height;
    const path = (pts, close) => {
      g.beginPath();
      pts.forEach((p, i) => (i ? g.lineTo(p.x * k, p.y * kh) : g.moveTo(p.x * k, p.y * kh)));
      if (close) g.closePath();
      g.stroke();
    };
    g.lineWidth = 2;
    g.strokeStyle = "#ffd400";
    for (const zn of z.geo.zones) path(zn.polygon, true);
    g.strokeStyle = "#00e5ff";
    for (const ln of z.geo.lines) path([ln.a, ln.b], false);
    g.setLineDash([6, 4]);
    g.strokeStyle = "#fff";
    if (z.points.length) path(z.points, false);
    g.setLineDash([]);
  }

  function setMode(mode) {
    z.mode = mode;
    z.points = [];
    $("finish-shape").hidden = mode !== "zone";
    draw();
  }

  async function finish() {
    if (z.mode === "zone" && z.points.length >= 3) {
      const geo = structuredClone(z.geo);
      geo.zones.push({ name: `zone${geo.zones.length + 1}`, polygon: z.points });
      setMode(null);
      await save(geo);
    }
  }

  // While drawing, clicks belong to the shape, not to prompts: catch them
  // on the way down to app.js's handlers on the overlay.
  for (const type of ["pointerdown", "pointermove", "pointercancel"]) {
    stage.addEventListener(type, (e) => { if (z.mode) e.stopPropagation(); }, true);
  }
  stage.addEventListener("pointerup", async (e) => {
    if (!z.mode) return;
    e.stopPropagation();
    const [x, y] = toSource(e.offsetX, e.offsetY);
    z.points.push({ x: Math.round(x), y: Math.round(y) });
    if (z.mode === "line" && z.points.length === 2) {
      const geo = structuredClone(z.geo);
      geo.lines.push({ name: `line${geo.lines.length + 1}`, a: z.points[0], b: z.points[1] });
      setMode(null);
      await save(geo);
      return;
    }
    draw();
  }, true);

  $("draw-zone").onclick = () => setMode("zone");
  $("draw-line").onclick = () => setMode("line");
  $("finish-shape").onclick = finish;
  $("clear-zones").onclick = () => save({ zones: [], lines: [] });
  setInterval(() => { load().catch(() => {}); }, 500);
  window.addEventListener("resize", draw);
})();
