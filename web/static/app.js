// vidseg page: opens sessions, watches one over WebRTC (WHEP), draws each
// object's mask from the DataChannel's RLE on the presented video frame,
// sends clicks and boxes as prompts, and scrubs and tracks files.
"use strict";

const $ = (id) => document.getElementById(id);

// Shared with tests: the latest metadata, what is drawn, and counters.
const state = {
  info: null,
  sessionId: null,
  session: null, // latest GET /api/sessions/{id}
  pc: null,
  whepLocation: null,
  connected: false,
  messages: 0,
  last: null, // latest DataChannel message
  shown: null, // message of the frame on screen
  drawn: null, // what the mask canvas shows: {frame, maskFrame, rtp, objects}
  metas: [], // recent messages, matched to presented frames by RTP timestamp
  presented: 0, // video frames presented
  matched: 0, // ... whose message was found by RTP timestamp
  selected: 0, // object id the next click adds to; 0 starts a new object
  hidden: new Set(),
  style: new Map(), // object id -> {color: [r,g,b], opacity, outline}
  marks: [], // clicks and boxes: {frame, x, y, box, positive, object, status, t0, drawnAt}
  markerLatency: [], // ms from the pointer event to the marker drawn
  prompts: 0,
  sessions: [], // latest GET /api/sessions, less those being closed
  closing: new Map(), // session id -> timer: closed, still undoable
  closeDelay: 8000, // ms a close can be undone
  lost: null, // "ended" or "unreachable": the session on screen is gone
  polls: 0, // session polls sent, and list refreshes (for tests)
  refreshes: 0,
  burned: false,
  effect: "highlight", // how masks are drawn (drawMasks)
  candidates: null, // the last click's masks: {object, frame, list: [{token, iou, area, chosen, mask}]}
  everything: null, // the last segment-everything answer
};
window.vidseg = state;

const params = new URLSearchParams(location.search);
const token = params.get("token");

function authHeaders(h) {
  h = Object.assign({}, h || {});
  if (token) h["Authorization"] = "Bearer " + token;
  return h;
}

function showError(msg) {
  const el = $("error");
  el.textContent = msg;
  el.hidden = !msg;
}

async function api(method, path, body, headers) {
  const res = await fetch(path, { method, body, headers: authHeaders(headers) });
  if (!res.ok) {
    let msg = res.status + " " + res.statusText;
    try { msg = (await res.json()).error || msg; } catch (e) { /* not JSON */ }
    const err = new Error(msg);
    err.status = res.status;
    throw err;
  }
  if (res.status === 204) return null;
  const type = res.headers.get("Content-Type") || "";
  return type.includes("json") ? res.json() : res.text();
}

const jsonHeaders = { "Content-Type": "application/json" };

function paletteColor(id) {
  const p = state.info && state.info.palette.length ? state.info.palette : [[30, 144, 255]];
  return p[((id % p.length) + p.length) % p.length];
}

function objStyle(id, serverColor) {
  let s = state.style.get(id);
  if (!s) {
    s = { color: serverColor || paletteColor(id), opacity: 0.5, outline: true };
    state.style.set(id, s);
  }
  return s;
}

function css(c, a) { return a === undefined ? `rgb(${c[0]},${c[1]},${c[2]})` : `rgba(${c[0]},${c[1]},${c[2]},${a})`; }

function humanBytes(n) {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return n.toFixed(i ? 1 : 0) + " " + u[i];
}

// decodeRLE turns COCO compressed counts into a row-major 0/1 mask.
function decodeRLE(rle) {
  const [h, w] = rle.size;
  const s = rle.counts;
  const counts = [];
  let p = 0;
  while (p < s.length) {
    let x = 0, k = 0, more = 1, c = 0;
    while (more) {
      c = s.charCodeAt(p) - 48;
      x |= (c & 0x1f) << (5 * k);
      more = c & 0x20;
      p++; k++;
      if (!more && (c & 0x10)) x |= -1 << (5 * k);
    }
    if (counts.length > 2) x += counts[counts.length - 2];
    counts.push(x);
  }
  const m = new Uint8Array(w * h);
  let idx = 0, v = 0;
  for (const n of counts) {
    if (v) {
      for (let j = 0; j < n; j++) {
        const q = idx + j; // COCO runs are column-major
        m[(q % h) * w + Math.floor(q / h)] = 1;
      }
    }
    idx += n;
    v ^= 1;
  }
  return m;
}
state.decodeRLE = decodeRLE;

// Decoded masks by counts string: live sessions repeat the same masks for
// many frames.
const rleCache = new Map();
function cachedMask(rle) {
  const key = rle.size.join("x") + ":" + rle.counts;
  let m = rleCache.get(key);
  if (!m) {
    m = decodeRLE(rle);
    if (rleCache.size > 64) rleCache.delete(rleCache.keys().next().value);
    rleCache.set(key, m);
  }
  return m;
}

async function loadInfo() {
  state.info = await api("GET", "/api/info");
  $("upload-limit").textContent = "max " + humanBytes(state.info.uploadLimit);
  $("model-name").textContent = state.info.model ? "model: " + (state.info.modelName || "configured") : "no model: video only";
  $("st-model-wrap").hidden = !state.info.model;
  if (!state.info.model) {
    $("model-help").textContent = state.info.modelHelp;
    $("model-help").hidden = false;
  }
}

function sourceName(s) { return (s.name || s.source).split("/").pop(); }

async function refreshSessions() {
  let list;
  state.refreshes++;
  try { list = await api("GET", "/api/sessions"); } catch (e) { return; }
  const ul = $("session-list");
  ul.textContent = "";
  // A session being closed (undo still possible) is not listed.
  list = list.filter((s) => !state.closing.has(s.id));
  state.sessions = list;
  if (!list.length) {
    const li = document.createElement("li");
    li.className = "empty";
    li.textContent = "none yet";
    ul.appendChild(li);
  }
  for (const s of list) {
    const li = document.createElement("li");
    li.dataset.id = s.id;
    li.className = s.id === state.sessionId ? "active" : "";
    const open = document.createElement("button");
    open.type = "button";
    open.className = "open";
    open.textContent = `${sourceName(s)} ${s.width}x${s.height} ${s.fps.toFixed(1)} fps, ${s.mode}, ${s.state}`;
    open.title = s.name || s.source;
    if (s.id === state.sessionId) open.setAttribute("aria-current", "true");
    open.onclick = () => watch(s.id).catch((e) => showError(e.message));
    const close = document.createElement("button");
    close.type = "button";
    close.className = "close";
    close.textContent = "\u2715";
    close.setAttribute("aria-label", "close session " + sourceName(s));
    close.title = "close this session (undo for a few seconds)";
    close.onclick = () => closeSession(s);
    li.append(open, close);
    ul.appendChild(li);
  }
}

// closeSession hides a session at once and ends it on the server only
// when the undo window has passed (or the page is left): closing is
// undoable, never silent.
function closeSession(s) {
  const id = s.id;
  if (state.closing.has(id)) return;
  const timer = setTimeout(() => finishClose(id), state.closeDelay);
  state.closing.set(id, timer);
  if (id === state.sessionId) detach();
  const t = $("toast");
  t.dataset.id = id;
  $("toast-text").textContent = `Closed ${sourceName(s)}.`;
  t.hidden = false;
  refreshSessions();
}

function finishClose(id) {
  if (!state.closing.has(id)) return;
  clearTimeout(state.closing.get(id));
  state.closing.delete(id);
  forgetMarks(id);
  if ($("toast").dataset.id === id) $("toast").hidden = true;
  endSession(id);
  refreshSessions();
}

function undoClose() {
  const t = $("toast");
  const id = t.dataset.id;
  t.hidden = true;
  if (!id || !state.closing.has(id)) return;
  clearTimeout(state.closing.get(id));
  state.closing.delete(id);
  refreshSessions();
  if (!state.sessionId) watch(id).catch((e) => showError(e.message));
}

function endSession(id) {
  return fetch(`/api/sessions/${id}`, { method: "DELETE", keepalive: true, headers: authHeaders() }).catch(() => {});
}

// The address of a session's page: reloading it, or opening it in
// another tab, re-attaches to the session.
function sessionURL(id) {
  const q = new URLSearchParams(location.search);
  if (id) q.set("session", id); else q.delete("session");
  const qs = q.toString();
  return location.pathname + (qs ? "?" + qs : "") + location.hash;
}

// detach leaves the session on screen without ending it.
function detach() {
  disconnect();
  resetView();
  state.sessionId = null;
  history.replaceState(null, "", sessionURL(null));
}

// Clicks are kept per session in the browser, so a reload shows them
// again (the server holds the prompts themselves).
function saveMarks() {
  const id = state.sessionId;
  if (!id) return;
  const keep = state.marks.filter((k) => k.status === "done").map((k) => ({ frame: k.frame, x: k.x, y: k.y, box: k.box, positive: k.positive, object: k.object, status: "done", t0: 0 }));
  try { localStorage.setItem("vidseg.marks." + id, JSON.stringify(keep)); } catch (e) { /* storage full or off */ }
}

function loadMarks(id) {
  try { return JSON.parse(localStorage.getItem("vidseg.marks." + id) || "[]"); } catch (e) { return []; }
}

function forgetMarks(id) {
  try { localStorage.removeItem("vidseg.marks." + id); } catch (e) { /* storage off */ }
}

function disconnect() {
  if (state.pc) { state.pc.close(); state.pc = null; }
  if (state.whepLocation) {
    fetch(state.whepLocation, { method: "DELETE", keepalive: true, headers: authHeaders() }).catch(() => {});
    state.whepLocation = null;
  }
  state.connected = false;
}

// resetView forgets everything shown for the previous session.
function resetView() {
  state.session = null;
  $("video").style.aspectRatio = "";
  state.last = state.shown = state.drawn = null;
  state.metas = [];
  state.messages = state.presented = state.matched = 0;
  state.selected = 0;
  state.hidden.clear();
  state.style.clear();
  state.marks = [];
  state.clicksKey = null;
  state.candidates = null;
  $("candidates").hidden = true;
  notice("", false);
  for (const id of ["st-frame", "st-mask", "st-fps", "st-model", "st-lat", "st-mlat"]) $(id).textContent = "-";
  $("st-queue").textContent = "0";
  $("st-conn").textContent = "idle";
  const tb = document.querySelector("#objects tbody");
  tb.textContent = "";
  tb.dataset.key = "";
  for (const id of ["masks", "overlay"]) {
    const c = $(id);
    c.getContext("2d").clearRect(0, 0, c.width, c.height);
  }
  $("scrub").hidden = $("track-controls").hidden = true;
  $("thumbs").style.visibility = "hidden";
  state.thumbsFor = null;
  $("session-name").textContent = "";
  setStatus("\u00a0");
  $("video").srcObject = null;
  $("empty").hidden = false;
}

// watch shows session id; the one shown before keeps running (it stays
// in the list, and the idle timeout ends it if nobody comes back).
async function watch(id) {
  disconnect();
  unlost();
  resetView();
  showError("");
  state.sessionId = id;
  let s;
  try { s = await api("GET", `/api/sessions/${id}`); } catch (e) {
    if (state.sessionId === id) detach();
    if (e.status === 404) forgetMarks(id);
    throw e.status === 404 ? new Error(`session ${id} has ended (closed, idle for too long, or the server restarted without it)`) : e;
  }
  if (state.sessionId !== id) return;
  history.replaceState(null, "", sessionURL(id));
  state.marks = loadMarks(id);
  onSession(s);
  $("empty").hidden = true;
  await connect(id);
  refreshSessions();
}

async function connect(id) {
  const pc = new RTCPeerConnection();
  state.pc = pc;
  pc.addTransceiver("video", { direction: "recvonly" });
  const dc = pc.createDataChannel("vidseg");
  state.dc = dc;
  dc.onmessage = (ev) => { if (state.pc === pc) onMeta(JSON.parse(ev.data)); };
  pc.ontrack = (ev) => {
    const v = $("video");
    v.srcObject = ev.streams[0] || new MediaStream([ev.track]);
    v.play().catch(() => {});
  };
  pc.onconnectionstatechange = () => {
    if (state.pc !== pc) return;
    $("st-conn").textContent = pc.connectionState;
    state.connected = pc.connectionState === "connected";
  };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && resolve());
    setTimeout(resolve, 2000); // host candidates are enough on a LAN
  });
  // The page draws the masks itself on a clean picture unless asked for
  // the burned-in one (what plain WHEP players get).
  const q = state.burned ? "" : "?overlay=none";
  const res = await fetch(`/api/sessions/${id}/whep${q}`, {
    method: "POST", body: pc.localDescription.sdp, headers: authHeaders({ "Content-Type": "application/sdp" }),
  });
  if (res.status !== 201) {
    let msg = res.statusText;
    try { msg = (await res.json()).error; } catch (e) { /* not JSON */ }
    throw new Error("WHEP: " + msg);
  }
  state.whepLocation = res.headers.get("Location");
  await pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
}

// onSession shows a session's state: name, model queue, and for edit
// sessions the player and the tracking progress.
function onSession(s) {
  if (s.id !== state.sessionId) return;
  const first = !state.session;
  state.session = s;
  $("session-name").textContent = sourceName(s) + (s.mode === "edit" ? " (scrub and track)" : s.live ? " (live)" : "");
  modelStatus();
  if (first) {
    // Keep the whole picture in view on wide screens.
    $("stage").style.maxWidth = s.width && s.height ? Math.max(320, Math.round(0.7 * innerHeight * s.width / s.height)) + "px" : "";
    // Hold the picture's shape before its first frame arrives, so the
    // stage does not grow under a click in progress.
    $("video").style.aspectRatio = s.width && s.height ? `${s.width} / ${s.height}` : "";
  }
  renderObjects(state.shown ? state.shown.objects : []);
  const e = s.edit;
  $("scrub").hidden = $("track-controls").hidden = $("undo-group").hidden = !e;
  if (!e) return;
  if (state.onEdit) state.onEdit(e); // a hook for tests
  syncClicks(e);
  $("undo").disabled = !e.undo || !!state.lost;
  $("redo").disabled = !e.redo || !!state.lost;
  $("undo").title = e.undo ? "undo " + e.undo + " (z)" : "nothing to undo";
  $("redo").title = e.redo ? "redo " + e.redo + " (shift+z)" : "nothing to redo";
  const seek = $("seek");
  seek.max = e.frames - 1;
  if (!seeking) seek.value = e.position;
  $("frame-label").textContent = `${e.position} / ${e.frames - 1}`;
  $("play").innerHTML = e.playing ? "&#10074;&#10074;" : "&#9654;";
  $("play").setAttribute("aria-label", e.playing ? "pause" : "play");
  let st = `${e.doneCount} of ${e.frames} frames tracked`;
  const stale = (e.stale || []).reduce((n, [a, b]) => n + b - a + 1, 0);
  if (stale) st += `, ${stale} stale (track again to update)`;
  if (e.tracking && e.pass) {
    const eta = e.pass.etaMs >= 0 ? `, about ${Math.max(1, Math.round(e.pass.etaMs / 1000))} s left` : "";
    st = `tracking ${e.tracking}: ${e.pass.done} of ${e.pass.total} frames${eta}`;
  } else if (e.tracking) st = `tracking ${e.tracking}: ` + st;
  else if (e.error) st += ` (last pass: ${e.error})`;
  $("track-status").textContent = st;
  for (const b of document.querySelectorAll("#track-controls [data-dir]")) b.disabled = !!e.tracking || !s.model;
  $("stop-track").disabled = !e.tracking;
  drawTimeline();
}

// syncClicks shows the server's clicks in effect (edit.clicks) as the
// done marks, so undo, redo, clear and remove show on the picture; the
// page's own pending and failed clicks stay.
function syncClicks(e) {
  const key = JSON.stringify(e.clicks || []);
  if (key === state.clicksKey) return;
  state.clicksKey = key;
  state.marks = state.marks.filter((k) => k.status !== "done").concat((e.clicks || []).map((c) => ({
    frame: c.frame, x: c.x, y: c.y, box: c.box, positive: c.positive, object: c.object, status: "done", t0: 0,
  })));
  saveMarks();
  drawOverlay();
}

// modelStatus shows what the model does and its queue: the server's
// view, or at least this page's clicks still waiting for an answer.
function modelStatus() {
  const s = state.session;
  if (!s) return;
  const mine = state.marks.filter((k) => k.status === "pending").length;
  $("st-queue").textContent = Math.max(s.queue, mine);
  if (!state.info || !state.info.model) { setStatus("Video only: no model is configured."); return; }
  const busy = s.busy || (mine ? "segmenting" : "");
  $("st-model").textContent = busy ? busy : (s.mode === "edit" ? "idle" : s.modelFps.toFixed(s.modelFps < 1 ? 2 : 1) + " fps");
  $("st-model").className = busy ? "busy" : "";
  const waiting = Math.max(s.queue, mine) - 1;
  setStatus(busy ? busy[0].toUpperCase() + busy.slice(1) + (waiting > 0 ? ` (${waiting} more waiting)` : "") + "..." :
    s.objects.length ? "Ready." : "Ready: click or tap an object in the video.");
  $("status").className = busy ? "busy" : "";
}

// setStatus shows (and, a live region, announces) what the model does, on
// one line of fixed height, so nothing moves while it changes.
function setStatus(text) {
  const el = $("status");
  if (el.textContent !== text) el.textContent = text;
}

// pollSession follows the session on screen. It stops when the session
// has ended (404) or the server cannot be reached, and says so with a way
// back (reopen the video, or reconnect), rather than polling forever.
async function pollSession() {
  const id = state.sessionId;
  if (!id || state.lost) return;
  state.polls++;
  try { onSession(await api("GET", `/api/sessions/${id}`)); } catch (e) {
    if (id !== state.sessionId) return;
    if (e.status === 404) lost("ended", "This session has ended (closed, idle for too long, or the server restarted).");
    else if (!e.status) lost("unreachable", "The server cannot be reached.");
  }
}

function lost(kind, msg) {
  state.lost = kind;
  disconnect();
  $("st-conn").textContent = kind;
  $("lost-text").textContent = msg;
  const src = state.session && state.session.source;
  const reopen = kind === "ended" && src && !src.startsWith("upload:");
  $("lost-reopen").hidden = !reopen;
  $("lost-retry").hidden = kind !== "unreachable";
  $("lost").hidden = false;
  for (const el of document.querySelectorAll("#player button, #player input")) if (!el.closest("#lost")) el.disabled = true;
}

function unlost() {
  state.lost = null;
  $("lost").hidden = true;
  for (const el of document.querySelectorAll("#player button, #player input")) el.disabled = false;
}

// Timeline: tracked frames in green, prompted frames as ticks, the
// play position in white (the range input's thumb).
function drawTimeline() {
  const s = state.session;
  const cv = $("timeline-progress");
  if (!s || !s.edit) return;
  const e = s.edit;
  cv.width = Math.max(1, Math.round(cv.clientWidth));
  cv.height = Math.max(1, Math.round(cv.clientHeight));
  const g = cv.getContext("2d");
  g.clearRect(0, 0, cv.width, cv.height);
  const x = (f) => frameX(f, cv.width, e.frames);
  const fill = (ranges, color) => {
    g.fillStyle = color;
    for (const [a, b] of ranges || []) {
      const x0 = x(a - 0.5), x1 = x(b + 0.5);
      g.fillRect(Math.floor(x0), 0, Math.max(1, Math.ceil(x1) - Math.floor(x0)), cv.height);
    }
  };
  fill(e.done, "rgb(60,170,60)");
  // Stale: results from before the last correction, shown until the
  // next pass replaces them.
  fill(e.stale, "rgb(200,140,40)");
  for (const p of e.prompts) {
    g.fillStyle = css(objStyle(p.object).color);
    g.fillRect(Math.round(x(p.frame)) - 1, 0, 3, Math.round(cv.height / 3));
  }
  drawLanes(s);
  loadThumbs(s);
}

// Lanes: one row per object under the timeline, in its colour where it
// is present, grey where it is absent, faint where both, empty where no
// pass has been (edit.lanes: cells of equal runs of frames).
const laneH = 6, laneGap = 2;
function drawLanes(s) {
  const cv = $("lanes"), e = s.edit;
  const lanes = new Map((e.lanes || []).map((l) => [l.object, l.cells]));
  const ids = [...new Set([...s.objects, ...lanes.keys()])].sort((a, b) => a - b);
  // One lane's place is kept before the first object, so the first
  // click's answer moves nothing.
  const h = Math.max(1, ids.length) * (laneH + laneGap);
  if (cv.style.height !== h + "px") cv.style.height = h + "px";
  cv.width = Math.max(1, Math.round(cv.clientWidth));
  cv.height = Math.max(1, h);
  const g = cv.getContext("2d");
  g.clearRect(0, 0, cv.width, cv.height);
  ids.forEach((id, row) => {
    const cells = lanes.get(id) || "", n = cells.length;
    const c = objStyle(id).color, y = row * (laneH + laneGap) + laneGap / 2;
    g.fillStyle = "#222";
    g.fillRect(0, y, cv.width, laneH);
    for (let i = 0; i < n; i++) {
      const v = cells[i];
      if (v === ".") continue;
      g.fillStyle = v === "p" ? css(c) : v === "a" ? "#555" : css(c, 0.45);
      const x0 = Math.floor(i * cv.width / n), x1 = Math.ceil((i + 1) * cv.width / n);
      g.fillRect(x0, y, Math.max(1, x1 - x0), laneH);
    }
  });
  state.laneIds = ids;
}

// laneAt reads back the lanes' drawing for tests: object id's lane at
// frame f: "p" in the object's colour, "a" grey, "" nothing.
state.laneAt = (id, f) => {
  const cv = $("lanes"), s = state.session, row = (state.laneIds || []).indexOf(id);
  if (!s || !s.edit || row < 0) return "";
  const x = Math.min(cv.width - 1, Math.floor(frameX(f, cv.width, s.edit.frames)));
  const d = cv.getContext("2d").getImageData(x, row * (laneH + laneGap) + laneGap / 2 + 1, 1, 1).data;
  const c = objStyle(id).color;
  if (Math.abs(d[0] - c[0]) < 8 && Math.abs(d[1] - c[1]) < 8 && Math.abs(d[2] - c[2]) < 8) return "p";
  if (d[0] === 0x55 && d[1] === 0x55) return "a";
  return "";
};

// loadThumbs shows the session's thumbnail strip over the timeline,
// fetched once per session (with the token header, which an img
// cannot send). Its place is kept while it loads: nothing moves.
async function loadThumbs(s) {
  if (state.thumbsFor === s.id) return;
  state.thumbsFor = s.id;
  const img = $("thumbs");
  img.style.visibility = "hidden";
  try {
    const res = await fetch(`/api/sessions/${s.id}/thumbnails.jpg`, { headers: authHeaders() });
    if (!res.ok || state.thumbsFor !== s.id) return;
    if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
    img.src = URL.createObjectURL(await res.blob());
    await img.decode();
    img.style.visibility = "visible";
    state.thumbsLoaded = s.id;
  } catch (e) { /* no thumbnails: the timeline works without them */ }
}

// frameX is the x of frame f's centre on a timeline width px wide; the
// same mapping turns a click on the timeline into a frame.
function frameX(f, width, frames) { return (f + 0.5) * width / Math.max(1, frames); }

// timelineDone reads back from the timeline's pixels which frames it shows
// as tracked (for tests: the drawing, not the data, is checked).
function timelineFrames(test) {
  const s = state.session, cv = $("timeline-progress");
  if (!s || !s.edit) return [];
  // The bottom row: prompt ticks cover only the top third.
  const bottom = cv.getContext("2d").getImageData(0, cv.height - 1, cv.width, 1).data;
  const out = [];
  for (let f = 0; f < s.edit.frames; f++) {
    const i = Math.min(cv.width - 1, Math.floor(frameX(f, cv.width, s.edit.frames))) * 4;
    if (bottom[i + 3] > 0 && test(bottom[i], bottom[i + 1], bottom[i + 2])) out.push(f);
  }
  return out;
}
state.timelineDone = () => timelineFrames((r, g) => g > 150 && r < 100);
state.timelineStale = () => timelineFrames((r, g, b) => r > 150 && g > 100 && g < 170 && b < 100);

function onMeta(m) {
  if (m.type !== "frame") return;
  state.messages++;
  state.last = m;
  state.metas.push(m);
  if (state.metas.length > 240) state.metas.splice(0, state.metas.length - 240);
  $("st-fps").textContent = m.sourceFps.toFixed(1);
  $("st-lat").textContent = m.latencyMs.toFixed(0);
  $("st-mlat").textContent = m.modelLatencyMs ? m.modelLatencyMs.toFixed(0) : "-";
  if (!state.shown || !rvfc) show(m, null);
  else if (state.waitingRTP !== null && rtpNear(rtpOf(m), state.waitingRTP)) {
    // The picture came before its message.
    state.matched++;
    show(m, state.waitingRTP);
    state.waitingRTP = null;
  }
}

function rtpOf(m) { return Math.round(m.streamMs * 90) >>> 0; }

// The frame presented: find its message by RTP timestamp (the server
// stamps RTP with the stream PTS and sends it as streamMs in the message).
const rvfc = "requestVideoFrameCallback" in HTMLVideoElement.prototype;
state.waitingRTP = null;
function onVideoFrame(now, md) {
  $("video").requestVideoFrameCallback(onVideoFrame);
  try { presented(md); } catch (e) { state.errors.push(String(e && e.stack || e)); }
}
state.errors = [];

function rtpNear(a, b) { return Math.abs((a - b) | 0) < 46; } // streamMs has 0.1 ms steps: 9 ticks

function presented(md) {
  state.presented++;
  if (md && md.rtpTimestamp !== undefined) {
    const rtp = md.rtpTimestamp >>> 0;
    state.lastRTP = rtp;
    let best = null, bestD = 46;
    for (let i = state.metas.length - 1; i >= 0; i--) {
      const d = Math.abs(((rtpOf(state.metas[i]) - rtp) | 0));
      if (d < bestD) { best = state.metas[i]; bestD = d; }
    }
    if (best) { state.matched++; state.waitingRTP = null; show(best, rtp); } else state.waitingRTP = rtp;
  } else if (state.last) {
    show(state.last, null);
  }
}

// show makes m the frame on screen: stats, objects and masks.
function show(m, rtp) {
  state.shown = m;
  $("st-frame").textContent = m.frame;
  $("st-mask").textContent = m.maskFrame < 0 ? "-" : m.maskFrame;
  renderObjects(m.objects);
  drawMasks(m, rtp);
  drawOverlay();
}

// drawMasks paints each shown object's mask at source resolution (CSS
// scales it over the video) with the chosen effect: "highlight" (fill at
// its opacity, outline opaque), "outline" (the outline only), or a
// background effect ("erase": black, "blur", "desaturate": the video's
// own pixels, filtered, over everything outside the objects).
function drawMasks(m, rtp) {
  const cv = $("masks");
  const effect = state.effect;
  const bg = effect === "erase" || effect === "blur" || effect === "desaturate";
  const objs = state.burned ? [] : m.objects.filter((o) => o.present && o.rle && !state.hidden.has(o.id)).sort((a, b) => a.id - b.id);
  // A filtered background changes with every picture.
  const key = m.width + "x" + m.height + "|" + effect + (bg && effect !== "erase" ? "|" + m.frame + "|" + rtp : "") + "|" + objs.map((o) => {
    const s = objStyle(o.id, o.color);
    return `${o.id}:${s.color}:${s.opacity}:${s.outline}:${o.rle.counts}`;
  }).join("|");
  state.drawn = { frame: m.frame, maskFrame: m.maskFrame, rtp, effect, objects: objs.map((o) => ({ id: o.id, counts: o.rle.counts })) };
  if (cv.dataset.key === key) return;
  cv.dataset.key = key;
  if (cv.width !== m.width || cv.height !== m.height) { cv.width = m.width; cv.height = m.height; }
  const g = cv.getContext("2d", { willReadFrequently: bg });
  g.clearRect(0, 0, cv.width, cv.height);
  if (state.burned || (!objs.length && !bg)) return;
  const w = m.width, h = m.height;
  let img;
  if (bg && effect !== "erase") {
    const r = Math.max(4, Math.round(w / 80));
    g.filter = effect === "blur" ? `blur(${r}px)` : "grayscale(1)";
    // Blur: drawn past the edges, so they do not fade into transparency.
    const p = effect === "blur" ? 3 * r : 0;
    g.drawImage($("video"), -p, -p, w + 2 * p, h + 2 * p);
    g.filter = "none";
    img = g.getImageData(0, 0, w, h);
  } else {
    img = g.createImageData(w, h);
  }
  const px = new Uint32Array(img.data.buffer); // little-endian RGBA
  if (effect === "erase") px.fill(0xff000000);
  for (const o of objs) {
    const mk = cachedMask(o.rle);
    const s = objStyle(o.id, o.color);
    const [r, gg, b] = s.color;
    const fill = ((Math.round(s.opacity * 255) << 24) | (b << 16) | (gg << 8) | r) >>> 0;
    const edge = ((255 << 24) | (b << 16) | (gg << 8) | r) >>> 0;
    const outline = s.outline || effect === "outline";
    for (let i = 0; i < mk.length; i++) {
      if (!mk[i]) continue;
      const x = i % w;
      const onEdge = outline && (x === 0 || x === w - 1 || i < w || i >= mk.length - w || !mk[i - 1] || !mk[i + 1] || !mk[i - w] || !mk[i + w]);
      if (onEdge) px[i] = edge;
      // Background effects and "outline" leave the object itself clear.
      else if (bg || effect === "outline") px[i] = 0;
      // A fully transparent fill still marks the pixel (alpha 1) so what
      // is drawn can be checked against the RLE.
      else px[i] = fill >>> 24 ? fill : (fill | (1 << 24)) >>> 0;
    }
  }
  g.putImageData(img, 0, 0);
}

// maskAlpha returns the mask canvas as a string of 0/1 (alpha > 0), row
// major, for tests.
state.maskBits = () => {
  const cv = $("masks");
  const d = cv.getContext("2d").getImageData(0, 0, cv.width, cv.height).data;
  let out = "";
  for (let i = 3; i < d.length; i += 4) out += d[i] > 0 ? "1" : "0";
  return out;
};

function pendingFor(id) { return state.marks.some((k) => k.status === "pending" && k.object === id); }

function inRanges(rs, f) { return (rs || []).some(([a, b]) => f >= a && f <= b); }

// frameState says what the frame on screen holds of an object the frame's
// message does not list: nothing tracked there yet, or absent.
function frameState() {
  const s = state.session;
  if (!s || !s.edit) return "absent";
  const f = shownFrame();
  return inRanges(s.edit.done, f) || inRanges(s.edit.stale, f) ? "absent" : "not tracked yet";
}

// renderTarget shows and lets the user choose where the next click goes.
function renderTarget(ids) {
  const sel = $("target");
  const key = ids.join(",") + "|" + state.selected;
  if (sel.dataset.key === key) return;
  sel.dataset.key = key;
  sel.textContent = "";
  const add = (v, text) => { const o = document.createElement("option"); o.value = v; o.textContent = text; sel.appendChild(o); };
  add(0, "a new object");
  for (const id of ids) add(id, "object " + id);
  sel.value = String(ids.includes(state.selected) ? state.selected : 0);
}

function select(id) {
  state.selected = id;
  if (state.shown) renderObjects(state.shown.objects); else renderObjects([]);
}

function renderObjects(frameObjs) {
  const tb = document.querySelector("#objects tbody");
  // Every object of the session is listed on every frame, with its state
  // there: present, absent, or not tracked yet.
  const objs = frameObjs.slice();
  const known = new Set(objs.map((o) => o.id));
  const ids = new Set([...((state.session && state.session.objects) || []), ...known]);
  for (const id of [...ids].sort((a, b) => a - b)) {
    if (!known.has(id)) objs.push({ id, iou: 0, objectScore: 0, present: false, missing: frameState() });
  }
  objs.sort((a, b) => a.id - b.id);
  renderTarget(objs.map((o) => o.id));
  const rows = objs;
  const pendingNew = state.marks.some((k) => k.status === "pending" && k.object === 0);
  const key = objs.map((o) => `${o.id}:${o.iou.toFixed(2)}:${o.objectScore.toFixed(1)}:${o.present}:${o.missing}:${pendingFor(o.id)}`).join(",") +
    "|" + pendingNew + "|" + state.selected + "|" + [...state.hidden].join(",");
  if (tb.dataset.key === key) return;
  tb.dataset.key = key;
  tb.textContent = "";
  for (const o of rows) tb.appendChild(objectRow(o, false));
  // A click starting a new object: a row like the others (same height,
  // so nothing below moves when the answer replaces it).
  if (pendingNew) tb.appendChild(objectRow({ id: 0, iou: 0, objectScore: 0, present: false, missing: "-" }, true));
}

// objectRow is one object's row (a card on narrow screens): show, colour
// and name (a button selecting it), status, IoU, score, opacity, outline,
// clear and remove, each with its own accessible name.
function objectRow(o, pendingNew) {
  const s = pendingNew ? { color: [128, 128, 128], opacity: 0.5, outline: true } : objStyle(o.id, o.color);
  const name = pendingNew ? "the new object" : `object ${o.id}`;
  const tr = document.createElement("tr");
  tr.className = pendingNew || o.id === state.selected ? "selected" : "";
  tr.dataset.id = pendingNew ? "new" : o.id;
  const check = (checked, label, onchange) => {
    const wrap = document.createElement("label");
    wrap.className = "touch";
    const c = document.createElement("input");
    c.type = "checkbox";
    c.checked = checked;
    c.setAttribute("aria-label", label);
    c.onchange = () => onchange(c.checked);
    wrap.appendChild(c);
    return wrap;
  };
  const show = check(!state.hidden.has(o.id), `show ${name}`, (on) => { on ? state.hidden.delete(o.id) : state.hidden.add(o.id); redraw(); });
  const nameCell = document.createElement("span");
  nameCell.className = "name";
  const col = document.createElement("input");
  col.type = "color";
  col.value = "#" + s.color.map((c) => c.toString(16).padStart(2, "0")).join("");
  col.setAttribute("aria-label", `colour of ${name}`);
  col.oninput = () => { const v = col.value; s.color = [1, 3, 5].map((i) => parseInt(v.slice(i, i + 2), 16)); redraw(); };
  const label = document.createElement("button");
  label.type = "button";
  label.className = "select";
  label.textContent = pendingNew ? "new object" : name;
  label.title = "select: clicks correct this object";
  label.setAttribute("aria-pressed", String(pendingNew || o.id === state.selected));
  label.onclick = () => { if (!pendingNew) select(o.id); };
  nameCell.append(col, label);
  const status = document.createElement("span");
  const busy = pendingNew || pendingFor(o.id);
  status.textContent = busy ? "segmenting..." : o.present ? "present" : o.missing || "absent";
  status.className = "status" + (busy ? " busy" : "");
  const op = document.createElement("input");
  op.type = "range"; op.min = 0; op.max = 100; op.value = Math.round(s.opacity * 100);
  op.setAttribute("aria-label", `opacity of ${name}`);
  op.oninput = () => { s.opacity = op.value / 100; redraw(); };
  const ol = check(s.outline, `outline ${name}`, (on) => { s.outline = on; redraw(); });
  const rm = document.createElement("span");
  rm.className = "row-actions";
  if (state.session && state.session.edit) {
    const clr = document.createElement("button");
    clr.type = "button";
    clr.textContent = "clear";
    clr.title = "take back all of this object's clicks and start over (undoable)";
    clr.setAttribute("aria-label", `clear ${name}'s clicks`);
    clr.onclick = () => clearObject(o.id);
    rm.appendChild(clr);
  }
  const del = document.createElement("button");
  del.type = "button";
  del.textContent = "remove";
  del.setAttribute("aria-label", `remove ${name}`);
  del.onclick = () => removeObject(o.id);
  rm.appendChild(del);
  if (pendingNew) for (const el of [show.firstChild, col, op, ol.firstChild, del, ...rm.children]) el.disabled = true;
  const na = o.missing || pendingNew;
  const cells = [[show, "show"], [nameCell, ""], [status, ""], [na ? "-" : o.iou.toFixed(3), "IoU"], [na ? "-" : o.objectScore.toFixed(2), "score"],
    [op, "opacity"], [ol, "outline"], [rm, ""]];
  for (const [c, head] of cells) {
    const td = document.createElement("td");
    // Narrow screens show each cell's heading inside the card.
    if (head) td.dataset.label = head;
    if (typeof c === "string") td.textContent = c; else td.appendChild(c);
    tr.appendChild(td);
  }
  return tr;
}

function redraw() {
  const m = state.shown;
  if (!m) return;
  $("masks").dataset.key = "";
  renderObjects(m.objects);
  drawMasks(m, state.drawn ? state.drawn.rtp : null);
  drawOverlay();
}

// The frame a click is on: the one on screen.
function shownFrame() {
  if (state.shown) return state.shown.frame;
  return state.session && state.session.edit ? state.session.edit.position : 0;
}

// drawOverlay draws, in display pixels: each shown object's box and
// label, the clicks on the frame on screen (pending ones with
// "segmenting..."), and the box being dragged.
function drawOverlay() {
  const cv = $("overlay");
  const w = Math.round(cv.clientWidth), h = Math.round(cv.clientHeight);
  if (cv.width !== w || cv.height !== h) { cv.width = w; cv.height = h; }
  const ctx = cv.getContext("2d");
  ctx.clearRect(0, 0, cv.width, cv.height);
  const s = state.session;
  if (!s) return;
  const sx = cv.width / s.width, sy = cv.height / s.height;
  ctx.font = "12px sans-serif";
  const m = state.shown;
  if (m) {
    for (const o of m.objects) {
      if (state.hidden.has(o.id) || !o.present) continue;
      const [x0, y0, x1, y1] = o.box;
      const c = objStyle(o.id, o.color).color;
      ctx.strokeStyle = css(c);
      ctx.lineWidth = o.id === state.selected ? 2 : 1;
      ctx.strokeRect(x0 * sx, y0 * sy, (x1 - x0) * sx, (y1 - y0) * sy);
      ctx.fillStyle = css(c);
      ctx.fillText(`${o.id} iou ${o.iou.toFixed(2)}`, x0 * sx + 2, Math.max(12, y0 * sy - 3));
    }
  }
  const frame = shownFrame();
  const edit = !!(s && s.edit);
  const now = performance.now();
  for (const k of state.marks) {
    // Files: the clicks of the frame on screen. Live: recent clicks.
    if (edit ? k.frame !== frame : (k.status !== "pending" && now - k.t0 > 4000)) continue;
    const color = k.status === "error" ? "#f80" : k.positive ? "#2e2" : "#e22";
    if (k.box) {
      ctx.strokeStyle = color;
      ctx.lineWidth = 2;
      ctx.strokeRect(k.box[0] * sx, k.box[1] * sy, (k.box[2] - k.box[0]) * sx, (k.box[3] - k.box[1]) * sy);
    } else {
      ctx.beginPath();
      ctx.arc(k.x * sx, k.y * sy, 6, 0, 2 * Math.PI);
      ctx.fillStyle = color;
      ctx.fill();
      ctx.lineWidth = 2;
      ctx.strokeStyle = "#fff";
      ctx.stroke();
    }
    if (k.status === "pending") {
      const [tx, ty] = k.box ? [k.box[0] * sx, k.box[1] * sy - 4] : [k.x * sx + 9, k.y * sy + 4];
      ctx.fillStyle = "#000";
      ctx.fillRect(tx - 2, ty - 12, 86, 16);
      ctx.fillStyle = "#fc6";
      ctx.fillText("segmenting...", tx, ty);
    }
  }
  if (drag && drag.moved) {
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = 1;
    ctx.setLineDash([4, 3]);
    ctx.strokeRect(drag.x0, drag.y0, drag.x1 - drag.x0, drag.y1 - drag.y0);
    ctx.setLineDash([]);
  }
}

// toSource maps a canvas position to source-frame pixels.
function toSource(x, y) {
  const cv = $("overlay");
  const s = state.session;
  return [x * s.width / cv.clientWidth, y * s.height / cv.clientHeight];
}

// prompt sends body for the frame on screen; mark is the click drawn for
// it (pending until the answer).
async function prompt(body, mark, retries = 60) {
  if (!state.sessionId) return;
  const id = state.sessionId;
  const s = state.session;
  if (s && s.edit && body.frame === undefined) body.frame = mark ? mark.frame : shownFrame();
  if (!state.info.model) {
    if (mark) mark.status = "error";
    if (state.shown) renderObjects(state.shown.objects);
    drawOverlay();
    showError("No model is configured, so clicks cannot be tracked (see the note above).");
    return;
  }
  try {
    const res = await api("POST", `/api/sessions/${id}/prompts`, JSON.stringify(body), jsonHeaders);
    if (id !== state.sessionId) return;
    state.selected = res.object;
    state.prompts++;
    // The gesture hint has been put to use: the next page load leaves it
    // out (not now: nothing moves under the user while segmenting).
    try { localStorage.setItem("vidseg.hintSeen", "1"); } catch (e) { /* storage off */ }
    if (mark) { mark.status = "done"; mark.object = res.object; saveMarks(); }
    showCandidates(res);
    // The next session poll brings the server's list of clicks.
    if (s && s.edit) state.clicksKey = null;
    showError("");
    renderObjects(res.objects || (state.shown ? state.shown.objects : []));
    modelStatus();
    drawOverlay();
  } catch (e) {
    if (e.status === 409 && retries > 0 && /not processed a frame yet/.test(e.message)) {
      // The model is still on its first frame: wait for it.
      showError("the model is warming up; the click will be sent when it has processed a frame");
      setTimeout(() => prompt(body, mark, retries - 1), 1000);
      return;
    }
    if (mark) mark.status = "error";
    if (state.shown) renderObjects(state.shown.objects);
    modelStatus();
    drawOverlay();
    showError("prompt: " + e.message);
  }
}
state.prompt = (body) => prompt(body, null);

// candidateNames labels a click's masks by size, as SAM's three outputs
// are meant: the largest "whole", then "part", "sub-part"; token 0 is
// the single-mask output.
function candidateNames(list) {
  const multi = list.filter((c) => c.token > 0).sort((a, b) => b.area - a.area);
  const names = new Map([[0, "single"]]);
  multi.forEach((c, i) => names.set(c.token, ["whole", "part", "sub-part"][i] || `mask ${c.token}`));
  return names;
}

// showCandidates lists the masks the decoder gave for the click just
// answered, each a thumbnail with its predicted IoU; picking one makes
// it the object's mask on that frame. Mask prompts have none: the list
// goes.
function showCandidates(res) {
  const list = (res.candidates || []).filter((c) => c.area > 0);
  const box = $("candidates");
  if (list.length < 2) {
    if (!res.candidates) { state.candidates = null; box.hidden = true; }
    return;
  }
  const names = candidateNames(list);
  // Whole, part, sub-part, then the single-mask output.
  const rank = (c) => c.token === 0 ? 9 : ["whole", "part", "sub-part"].indexOf(names.get(c.token));
  list.sort((a, b) => rank(a) - rank(b));
  state.candidates = { object: res.object, frame: res.frame, list };
  const color = objStyle(res.object).color;
  const out = $("candidate-list");
  out.textContent = "";
  for (const c of list) {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.token = c.token;
    b.setAttribute("aria-pressed", String(!!c.chosen));
    // The visible text starts the accessible name (label-in-name): "whole 0.87 ...".
    const shown = `${names.get(c.token)} ${c.iou.toFixed(2)}`;
    b.setAttribute("aria-label", `${shown}: ${names.get(c.token)} mask, predicted IoU ${c.iou.toFixed(2)}${c.chosen ? " (in use)" : ""}`);
    b.title = `decoder token ${c.token}, ${c.area} pixels`;
    const cv = document.createElement("canvas");
    const [h, w] = c.mask.size;
    cv.width = Math.max(1, Math.round(96 * w / Math.max(w, h)));
    cv.height = Math.max(1, Math.round(96 * h / Math.max(w, h)));
    drawThumb(cv, c.mask, color);
    const label = document.createElement("span");
    label.textContent = shown;
    b.append(cv, label);
    b.onclick = () => pickCandidate(c.token);
    out.appendChild(b);
  }
  box.hidden = false;
}

// drawThumb draws a mask small: the object's colour on black.
function drawThumb(cv, rle, color) {
  const [h, w] = rle.size;
  const m = decodeRLE(rle);
  const full = new ImageData(w, h);
  for (let i = 0; i < w * h; i++) {
    if (!m[i]) continue;
    full.data.set([color[0], color[1], color[2], 255], i * 4);
  }
  const tmp = document.createElement("canvas");
  tmp.width = w; tmp.height = h;
  tmp.getContext("2d").putImageData(full, 0, 0);
  const ctx = cv.getContext("2d");
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, cv.width, cv.height);
  ctx.drawImage(tmp, 0, 0, cv.width, cv.height);
}

// pickCandidate keeps another of the last click's masks.
async function pickCandidate(token) {
  const c = state.candidates;
  if (!c) return;
  const name = candidateNames(c.list).get(token);
  await prompt({ object: c.object, frame: c.frame, candidate: token }, null);
  announce(`Object ${c.object} now uses the ${name} mask.`);
}
state.pickCandidate = pickCandidate;

// cycleCandidate picks the next of the last click's masks (key c).
function cycleCandidate() {
  const c = state.candidates;
  if (!c) { announce("No click with other masks to choose from."); return; }
  const i = c.list.findIndex((x) => x.chosen);
  pickCandidate(c.list[(i + 1) % c.list.length].token);
}

// everything finds every object on the frame shown: each mask the
// model finds that no object covers becomes an object, listed with the
// others, to keep or remove.
async function everything() {
  const s = state.session;
  if (!state.sessionId || !s || state.lost) return;
  if (!state.info.model) { showError("No model is configured, so nothing can be segmented (see the note above)."); return; }
  const btn = $("everything");
  btn.disabled = true;
  const body = {};
  if (s.edit) body.frame = shownFrame();
  Object.assign(body, state.everythingParams || {});
  setStatus("segmenting everything...");
  try {
    const res = await api("POST", `/api/sessions/${state.sessionId}/everything`, JSON.stringify(body), jsonHeaders);
    state.everything = res;
    showError("");
    const n = res.added.length;
    let text = `Segment everything on frame ${res.frame}: ${res.found} masks, ${n} new object${n === 1 ? "" : "s"}`;
    if (res.overlapping) text += `, ${res.overlapping} already covered`;
    if (res.capped) text += `, ${res.capped} over the cap`;
    text += n ? ". Remove the ones you do not want." : ".";
    notice(text, false);
    announce(text);
    if (n) select(res.added[0].object);
    renderObjects(res.objects || []);
    if (s.edit) state.clicksKey = null;
    await pollSession();
  } catch (e) {
    showError("segment everything: " + e.message);
  } finally {
    btn.disabled = false;
    modelStatus();
  }
}
state.segmentEverything = everything;

// removeObject drops an object; in an edit session it can be undone
// (the notice's Undo, the Undo button or z).
async function removeObject(id) {
  try {
    await api("DELETE", `/api/sessions/${state.sessionId}/objects/${id}`);
    if (state.selected === id) state.selected = 0;
    state.marks = state.marks.filter((k) => k.object !== id);
    saveMarks();
    drawOverlay();
    const edit = state.session && state.session.edit;
    notice(edit ? `Removed object ${id}.` : "", !!edit);
    announce(`Removed object ${id}.`);
    await pollSession();
  } catch (e) {
    showError("remove: " + e.message);
  }
}

// clearObject takes back all of an object's clicks ("start over"): it
// stays listed and selected, so the next click starts it again.
async function clearObject(id) {
  try {
    onSession(await api("POST", `/api/sessions/${state.sessionId}/objects/${id}/clear`, "{}", jsonHeaders));
    select(id);
    notice(`Cleared object ${id}'s clicks.`, true);
    announce(`Cleared object ${id}'s clicks.`);
  } catch (e) {
    showError("clear: " + e.message);
  }
}

// undo (redo when again is true) takes back the last click, clear or
// removal of an edit session, or applies it again.
async function undo(again) {
  const s = state.session;
  if (!state.sessionId || !s || !s.edit || state.lost) return;
  const what = again ? s.edit.redo : s.edit.undo;
  if (!what) { announce(again ? "Nothing to redo." : "Nothing to undo."); return; }
  notice("", false);
  try {
    onSession(await api("POST", `/api/sessions/${state.sessionId}/${again ? "redo" : "undo"}`, "{}", jsonHeaders));
    announce((again ? "Redone: " : "Undone: ") + what + ".");
    // Undoing a removal (or redoing a clear) brings the object back:
    // clicks go to it again.
    const back = /^(remove|clear) object (\d+)$/.exec(what);
    if (back && (again ? back[1] === "clear" : true)) select(+back[2]);
    redraw();
  } catch (e) {
    showError((again ? "redo: " : "undo: ") + e.message);
  }
}
state.undo = () => undo(false);
state.redo = () => undo(true);

function notice(text, undoable) {
  $("notice").hidden = !text;
  $("notice-text").textContent = text;
  $("notice-undo").hidden = !undoable;
}

// announce tells screen readers what just happened (#announce is a
// polite live region).
function announce(text) {
  const el = $("announce");
  if (el) el.textContent = text;
}

// Keyboard shortcuts (the "?" list); none while typing in a field.
function onKey(e) {
  const t = e.target;
  const dialog = !$("shortcuts").hidden;
  if (e.key === "Escape" && dialog) { showShortcuts(false); e.preventDefault(); return; }
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName)) && !(t.type === "checkbox" && e.key !== " ")) return;
  if (e.key === "?") { showShortcuts(dialog ? false : true); e.preventDefault(); return; }
  if (dialog) return;
  const s = state.session;
  const ed = s && s.edit;
  switch (e.key) {
    case " ":
      if (t && t.tagName === "BUTTON") return; // the button's own action
      if (!ed) return;
      player({ action: ed.playing ? "pause" : "play" });
      break;
    case "ArrowLeft": case "ArrowRight": case "Home": case "End": {
      if (!ed) return;
      const step = e.shiftKey ? 10 : 1;
      const pos = +$("seek").value;
      const to = e.key === "Home" ? 0 : e.key === "End" ? ed.frames - 1 : pos + (e.key === "ArrowLeft" ? -step : step);
      const f = Math.max(0, Math.min(ed.frames - 1, to));
      $("seek").value = f;
      $("frame-label").textContent = `${f} / ${ed.frames - 1}`;
      player({ action: "seek", frame: f });
      break;
    }
    case "z": undo(false); break;
    case "Z": undo(true); break;
    case "n": select(0); announce("The next click starts a new object."); break;
    case "c": cycleCandidate(); break;
    case "e": everything(); break;
    case "Delete": case "Backspace":
      if (!state.selected) { announce("No object selected."); return; }
      removeObject(state.selected);
      break;
    default: return;
  }
  e.preventDefault();
}

let shortcutsFrom = null; // where focus returns when the list closes
function showShortcuts(on) {
  const d = $("shortcuts");
  if (on === !d.hidden) return;
  d.hidden = !on;
  if (on) { shortcutsFrom = document.activeElement; $("shortcuts-close").focus(); } else if (shortcutsFrom && shortcutsFrom.focus) shortcutsFrom.focus();
}

let drag = null;

// click records the marker for a click or box, draws it at once, and sends
// the prompt. t0 is the pointer event's time (performance.now() base).
function click(d, t0) {
  const frame = shownFrame();
  const mark = { frame, positive: !d.negative, object: state.selected, status: "pending", t0 };
  let body;
  if (d.moved) {
    const [ax, ay] = toSource(Math.min(d.x0, d.x1), Math.min(d.y0, d.y1));
    const [bx, by] = toSource(Math.max(d.x0, d.x1), Math.max(d.y0, d.y1));
    mark.box = [ax, ay, bx, by];
    mark.positive = true;
    body = { object: state.selected, points: [], box: { x0: ax, y0: ay, x1: bx, y1: by } };
  } else {
    [mark.x, mark.y] = toSource(d.x0, d.y0);
    body = { object: state.selected, points: [{ x: mark.x, y: mark.y, positive: !d.negative }] };
  }
  state.marks.push(mark);
  modelStatus();
  if (state.shown) renderObjects(state.shown.objects);
  drawOverlay();
  mark.drawnAt = performance.now();
  state.markerLatency.push(mark.drawnAt - t0);
  requestAnimationFrame(() => { mark.paintedAt = performance.now(); });
  // Clicking a playing file pauses it on the clicked frame (the server
  // does the same).
  if (state.session && state.session.edit && state.session.edit.playing) state.session.edit.playing = false;
  prompt(body, mark);
}

function setupCanvas() {
  const cv = $("overlay");
  cv.addEventListener("contextmenu", (e) => e.preventDefault());
  cv.addEventListener("pointerdown", (e) => {
    if (!state.session) return;
    cv.setPointerCapture(e.pointerId);
    drag = { x0: e.offsetX, y0: e.offsetY, x1: e.offsetX, y1: e.offsetY, moved: false,
      negative: e.button === 2 || e.shiftKey || $("negative").checked };
  });
  cv.addEventListener("pointermove", (e) => {
    if (!drag) return;
    drag.x1 = e.offsetX; drag.y1 = e.offsetY;
    drag.moved = Math.hypot(drag.x1 - drag.x0, drag.y1 - drag.y0) > 8;
    drawOverlay();
  });
  cv.addEventListener("pointerup", (e) => {
    if (!drag || !state.session) { drag = null; return; }
    const d = drag;
    drag = null;
    d.x1 = e.offsetX; d.y1 = e.offsetY;
    click(d, e.timeStamp);
  });
  cv.addEventListener("pointercancel", () => { drag = null; drawOverlay(); });
  $("new-object").onclick = () => select(0);
  $("everything").onclick = everything;
  $("target").onchange = () => select(+$("target").value);
  $("effect").onchange = () => {
    state.effect = $("effect").value;
    $("masks").dataset.key = "";
    redraw();
  };
  $("burned").onchange = () => {
    state.burned = $("burned").checked;
    $("masks").dataset.key = "";
    if (state.sessionId) { disconnect(); connect(state.sessionId).catch((e) => showError(e.message)); }
    redraw();
  };
  new ResizeObserver(() => { drawOverlay(); drawTimeline(); }).observe($("stage"));
  if (rvfc) $("video").requestVideoFrameCallback(onVideoFrame);
}

let seeking = false;
let seekTimer = null;

async function player(body) {
  if (!state.sessionId) return;
  try { onSession(await api("POST", `/api/sessions/${state.sessionId}/player`, JSON.stringify(body), jsonHeaders)); } catch (e) { showError("player: " + e.message); }
}

function setupScrub() {
  $("play").onclick = () => player({ action: state.session && state.session.edit && state.session.edit.playing ? "pause" : "play" });
  const seek = $("seek");
  seek.addEventListener("input", () => {
    seeking = true;
    $("frame-label").textContent = `${seek.value} / ${seek.max}`;
    clearTimeout(seekTimer);
    seekTimer = setTimeout(() => player({ action: "seek", frame: +seek.value }), 60);
  });
  seek.addEventListener("change", () => {
    clearTimeout(seekTimer);
    player({ action: "seek", frame: +seek.value }).finally(() => { seeking = false; });
  });
  for (const b of document.querySelectorAll("#track-controls [data-dir]")) {
    b.onclick = async () => {
      try { onSession(await api("POST", `/api/sessions/${state.sessionId}/track`, JSON.stringify({ direction: b.dataset.dir }), jsonHeaders)); } catch (e) { showError("track: " + e.message); }
    };
  }
  $("stop-track").onclick = () => api("DELETE", `/api/sessions/${state.sessionId}/track`).catch((e) => showError("stop: " + e.message));
  // A click on the thumbnails or the lanes seeks to the frame under it.
  for (const id of ["thumbs", "lanes"]) {
    $(id).addEventListener("click", (ev) => {
      const e = state.session && state.session.edit, b = $(id).getBoundingClientRect();
      if (!e || !b.width || state.lost) return;
      const f = Math.min(e.frames - 1, Math.max(0, Math.floor((ev.clientX - b.left) / b.width * e.frames)));
      player({ action: "seek", frame: f });
    });
  }
  for (const b of document.querySelectorAll("#track-controls [data-result]")) {
    b.onclick = () => download(b.dataset.result).catch((e) => showError("download: " + e.message));
  }
}

// download fetches a result (with the token header, which a plain link
// cannot send) and saves it under the video's name. overlay.mp4 is drawn
// as the page draws: its effect, without the hidden objects.
async function download(name) {
  const s = state.session;
  let q = "";
  if (name === "overlay.mp4") {
    const p = new URLSearchParams({ effect: state.effect });
    if (state.hidden.size) p.set("hide", [...state.hidden].join(","));
    // Colours, opacities and outlines as chosen here.
    const hex = (c) => c.map((v) => v.toString(16).padStart(2, "0")).join("");
    const styles = [...state.style].map(([id, s]) => `${id}:${hex(s.color)}:${s.opacity}:${s.outline ? 1 : 0}`);
    if (styles.length) p.set("style", styles.join(","));
    q = "?" + p;
  }
  state.lastDownload = `/api/sessions/${s.id}/results/${name}${q}`;
  const res = await fetch(state.lastDownload, { headers: authHeaders() });
  if (!res.ok) {
    let msg = res.status + " " + res.statusText;
    try { msg = (await res.json()).error || msg; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  const blob = await res.blob();
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = sourceName(s).replace(/\.[^.]*$/, "") + "-" + name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  return blob.size;
}
state.download = download;

async function create(body, headers, what) {
  try {
    const s = await api("POST", "/api/sessions", body, headers);
    await watch(s.id);
    showPlayer();
  } catch (err) { showError(what + ": " + err.message); }
}

// showPlayer brings the video into view when the user opened one from
// below it (on a phone the forms and the gallery are under the player).
function showPlayer() {
  const r = $("stage").getBoundingClientRect();
  if (r.top < 0 || r.top > window.innerHeight / 2) $("player").scrollIntoView({ block: "start" });
}

// upload sends the form with progress shown in place (fetch cannot
// report upload progress), the button disabled meanwhile; errors show
// next to the form.
function upload(fd, name) {
  const btn = $("upload-form").querySelector("button");
  const prog = $("upload-progress");
  btn.disabled = true;
  prog.hidden = false;
  prog.value = 0;
  $("upload-status").textContent = "uploading " + name + "...";
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/sessions");
    if (token) xhr.setRequestHeader("Authorization", "Bearer " + token);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) prog.value = e.loaded / e.total; };
    const done = async (msg) => {
      btn.disabled = false;
      prog.hidden = true;
      $("upload-status").textContent = msg || "";
      resolve();
    };
    xhr.onerror = () => { done("upload " + name + ": the server cannot be reached"); showError("upload " + name + ": the server cannot be reached"); };
    xhr.onload = async () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
      if (xhr.status !== 201) {
        const msg = "upload " + name + ": " + ((body && body.error) || xhr.status + " " + xhr.statusText);
        done(msg);
        showError(msg);
        return;
      }
      done("");
      try { await watch(body.id); showPlayer(); } catch (e) { showError(e.message); }
    };
    xhr.send(fd);
  });
}

function setupForms() {
  $("upload-form").onsubmit = async (e) => {
    e.preventDefault();
    const f = $("upload-file").files[0];
    if (!f) { showError("choose a file first"); return; }
    if (state.info && f.size > state.info.uploadLimit) {
      showError(`${f.name} is ${humanBytes(f.size)}; the server accepts at most ${humanBytes(state.info.uploadLimit)}`);
      return;
    }
    const fd = new FormData();
    fd.append("mode", "edit"); // before the file: the server reads it first
    fd.append("file", f);
    await upload(fd, f.name);
  };
  $("source-form").onsubmit = async (e) => {
    e.preventDefault();
    const src = $("source-input").value.trim();
    if (!src) { showError("enter a path, URL or /dev/videoN"); return; }
    // Server files scrub and track; URLs and cameras play live.
    const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(src);
    const mode = !url && !src.startsWith("/dev/") ? "edit" : "live";
    await create(JSON.stringify({ source: src, mode }), jsonHeaders, "open " + src);
  };
}

// Leaving the page leaves its sessions running (a reload or the link
// comes back to them; the idle timeout ends those nobody returns to),
// except those the user closed (keepalive: the request outlives the page).
window.addEventListener("pagehide", () => {
  disconnect();
  for (const id of [...state.closing.keys()]) finishClose(id);
});

(async function main() {
  state.burned = params.get("burn") === "1";
  try { $("hint").hidden = localStorage.getItem("vidseg.hintSeen") === "1"; } catch (e) { /* storage off */ }
  $("burned").checked = state.burned;
  setupCanvas();
  setupScrub();
  setupForms();
  $("toast-undo").onclick = undoClose;
  $("undo").onclick = () => undo(false);
  $("redo").onclick = () => undo(true);
  $("notice-undo").onclick = () => undo(false);
  $("help").onclick = () => showShortcuts(true);
  $("shortcuts-close").onclick = () => showShortcuts(false);
  $("shortcuts").addEventListener("click", (e) => { if (e.target === $("shortcuts")) showShortcuts(false); });
  document.addEventListener("keydown", onKey);
  $("lost-retry").onclick = () => { const id = state.sessionId; if (id) watch(id).catch((e) => showError(e.message)); };
  $("lost-reopen").onclick = () => {
    const s = state.session;
    if (s) create(JSON.stringify({ source: s.source, mode: s.mode === "edit" ? "edit" : "live" }), jsonHeaders, "reopen " + sourceName(s));
  };
  try { await loadInfo(); } catch (e) { showError("server: " + e.message); }
  await refreshSessions();
  setInterval(refreshSessions, 3000);
  setInterval(pollSession, 500);
  const want = params.get("session");
  if (want) watch(want).catch((e) => showError(e.message));
})();
