// vidseg page: opens sessions, watches one over WebRTC (WHEP), sends clicks
// and boxes as prompts, and shows per-object scores from the DataChannel.
"use strict";

const $ = (id) => document.getElementById(id);

// Shared with tests: the latest metadata and counters.
const state = {
  info: null,
  sessionId: null,
  session: null,
  pc: null,
  whepLocation: null,
  connected: false,
  messages: 0,
  last: null,
  selected: 0, // object id the next click adds to; 0 starts a new object
  hidden: new Set(),
  prompts: 0,
};
window.vidseg = state;

function showError(msg) {
  const el = $("error");
  el.textContent = msg;
  el.hidden = !msg;
}

async function api(method, path, body, headers) {
  const res = await fetch(path, { method, body, headers });
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

function color(id) {
  const p = state.info ? state.info.palette : [[30, 144, 255]];
  const c = p[((id % p.length) + p.length) % p.length];
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

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
    for (let j = 0; j < n; j++, idx++) {
      if (v) {
        const col = Math.floor(idx / h), row = idx % h; // COCO runs are column-major
        m[row * w + col] = 1;
      }
    }
    v ^= 1;
  }
  return m;
}
state.decodeRLE = decodeRLE;

async function loadInfo() {
  state.info = await api("GET", "/api/info");
  $("upload-limit").textContent = "max " + humanBytes(state.info.uploadLimit);
  $("model-name").textContent = state.info.model ? "model: " + (state.info.modelName || "configured") : "no model";
  if (!state.info.model) {
    $("model-help").textContent = state.info.modelHelp;
    $("model-help").hidden = false;
  }
}

async function refreshSessions() {
  let list;
  try { list = await api("GET", "/api/sessions"); } catch (e) { return; }
  const ul = $("session-list");
  ul.textContent = "";
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
    li.textContent = `${s.source.split("/").pop()} ${s.width}x${s.height} ${s.fps.toFixed(1)} fps, ${s.viewers} viewer(s), ${s.state}`;
    li.title = s.source;
    li.onclick = () => watch(s.id);
    ul.appendChild(li);
  }
}

async function leave() {
  if (state.pc) { state.pc.close(); state.pc = null; }
  if (state.whepLocation) {
    fetch(state.whepLocation, { method: "DELETE", keepalive: true }).catch(() => {});
    state.whepLocation = null;
  }
  state.connected = false;
}

async function watch(id) {
  await leave();
  showError("");
  state.sessionId = id;
  state.session = await api("GET", `/api/sessions/${id}`);
  state.selected = 0;
  state.hidden.clear();
  const pc = new RTCPeerConnection();
  state.pc = pc;
  pc.addTransceiver("video", { direction: "recvonly" });
  const dc = pc.createDataChannel("vidseg");
  state.dc = dc;
  dc.onmessage = (ev) => onMeta(JSON.parse(ev.data));
  pc.ontrack = (ev) => {
    $("video").srcObject = ev.streams[0] || new MediaStream([ev.track]);
    $("video").play().catch(() => {});
  };
  pc.onconnectionstatechange = () => {
    $("st-conn").textContent = pc.connectionState;
    state.connected = pc.connectionState === "connected";
  };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") return resolve();
    pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && resolve());
    setTimeout(resolve, 2000); // host candidates are enough on a LAN
  });
  const res = await fetch(`/api/sessions/${id}/whep`, {
    method: "POST", body: pc.localDescription.sdp, headers: { "Content-Type": "application/sdp" },
  });
  if (res.status !== 201) {
    let msg = res.statusText;
    try { msg = (await res.json()).error; } catch (e) { /* not JSON */ }
    throw new Error("WHEP: " + msg);
  }
  state.whepLocation = res.headers.get("Location");
  await pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
  refreshSessions();
}

function onMeta(m) {
  if (m.type !== "frame") return;
  state.messages++;
  state.last = m;
  $("st-frame").textContent = m.frame;
  $("st-mask").textContent = m.maskFrame < 0 ? "-" : m.maskFrame;
  $("st-fps").textContent = m.sourceFps.toFixed(1);
  $("st-model").textContent = state.info && state.info.model ? m.modelFps.toFixed(m.modelFps < 1 ? 2 : 1) : "no model";
  $("st-lat").textContent = m.latencyMs.toFixed(0);
  $("st-mlat").textContent = m.modelLatencyMs ? m.modelLatencyMs.toFixed(0) : "-";
  renderObjects(m.objects);
  drawOverlay(m);
}

function renderObjects(objs) {
  const tb = document.querySelector("#objects tbody");
  const key = objs.map((o) => `${o.id}:${o.iou.toFixed(2)}:${o.objectScore.toFixed(1)}:${o.present}`).join(",") + "|" + state.selected + "|" + [...state.hidden].join(",");
  if (tb.dataset.key === key) return;
  tb.dataset.key = key;
  tb.textContent = "";
  for (const o of objs) {
    const tr = document.createElement("tr");
    tr.className = o.id === state.selected ? "selected" : "";
    const show = document.createElement("input");
    show.type = "checkbox";
    show.checked = !state.hidden.has(o.id);
    show.onchange = () => { show.checked ? state.hidden.delete(o.id) : state.hidden.add(o.id); drawOverlay(state.last); };
    const name = document.createElement("span");
    name.innerHTML = `<span class="swatch" style="background:${color(o.id)}"></span>object ${o.id}${o.present ? "" : " (absent)"}`;
    name.style.cursor = "pointer";
    name.title = "select: clicks correct this object";
    name.onclick = () => { state.selected = o.id; renderObjects(objs); };
    const rm = document.createElement("button");
    rm.textContent = "remove";
    rm.onclick = () => removeObject(o.id);
    const cells = [show, name, o.iou.toFixed(3), o.objectScore.toFixed(2), rm];
    for (const c of cells) {
      const td = document.createElement("td");
      if (typeof c === "string") td.textContent = c; else td.appendChild(c);
      tr.appendChild(td);
    }
    tb.appendChild(tr);
  }
}

// drawOverlay outlines each shown object's box; the mask itself is in the
// video. Hidden objects lose their box and label here.
function drawOverlay(m) {
  const cv = $("overlay");
  const v = $("video");
  if (!m) return;
  cv.width = cv.clientWidth;
  cv.height = cv.clientHeight;
  const ctx = cv.getContext("2d");
  ctx.clearRect(0, 0, cv.width, cv.height);
  const sx = cv.width / m.width, sy = cv.height / m.height;
  for (const o of m.objects) {
    if (state.hidden.has(o.id) || !o.present) continue;
    const [x0, y0, x1, y1] = o.box;
    ctx.strokeStyle = color(o.id);
    ctx.lineWidth = o.id === state.selected ? 3 : 1.5;
    ctx.strokeRect(x0 * sx, y0 * sy, (x1 - x0) * sx, (y1 - y0) * sy);
    ctx.fillStyle = color(o.id);
    ctx.font = "12px sans-serif";
    ctx.fillText(`${o.id} iou ${o.iou.toFixed(2)}`, x0 * sx + 2, Math.max(12, y0 * sy - 3));
  }
  if (drag && drag.moved) {
    ctx.strokeStyle = "#fff";
    ctx.setLineDash([4, 3]);
    ctx.strokeRect(drag.x0, drag.y0, drag.x1 - drag.x0, drag.y1 - drag.y0);
    ctx.setLineDash([]);
  }
  void v;
}

// toSource maps a canvas position to source-frame pixels.
function toSource(x, y) {
  const cv = $("overlay");
  const s = state.session;
  return [x * s.width / cv.clientWidth, y * s.height / cv.clientHeight];
}

async function prompt(body, retries = 60) {
  if (!state.sessionId) return;
  if (!state.info.model) { showError(state.info.modelHelp); return; }
  try {
    const res = await api("POST", `/api/sessions/${state.sessionId}/prompts`, JSON.stringify(body), { "Content-Type": "application/json" });
    state.selected = res.object;
    state.prompts++;
    showError("");
    if (res.objects) renderObjects(res.objects);
  } catch (e) {
    if (e.status === 409 && retries > 0 && /not processed a frame yet/.test(e.message)) {
      // The model is still on its first frame: wait for it.
      showError("the model is warming up, the click will be sent when it has processed a frame");
      setTimeout(() => prompt(body, retries - 1), 1000);
      return;
    }
    showError("prompt: " + e.message);
  }
}
state.prompt = prompt;

async function removeObject(id) {
  try {
    await api("DELETE", `/api/sessions/${state.sessionId}/objects/${id}`);
    if (state.selected === id) state.selected = 0;
  } catch (e) {
    showError("remove: " + e.message);
  }
}

let drag = null;

function setupCanvas() {
  const cv = $("overlay");
  cv.addEventListener("contextmenu", (e) => e.preventDefault());
  cv.addEventListener("mousedown", (e) => {
    drag = { x0: e.offsetX, y0: e.offsetY, x1: e.offsetX, y1: e.offsetY, moved: false,
      negative: e.button === 2 || e.shiftKey || $("negative").checked };
  });
  cv.addEventListener("mousemove", (e) => {
    if (!drag) return;
    drag.x1 = e.offsetX; drag.y1 = e.offsetY;
    drag.moved = Math.hypot(drag.x1 - drag.x0, drag.y1 - drag.y0) > 6;
    drawOverlay(state.last);
  });
  cv.addEventListener("mouseup", (e) => {
    if (!drag || !state.session) { drag = null; return; }
    const d = drag;
    drag = null;
    d.x1 = e.offsetX; d.y1 = e.offsetY;
    if (d.moved) {
      const [ax, ay] = toSource(Math.min(d.x0, d.x1), Math.min(d.y0, d.y1));
      const [bx, by] = toSource(Math.max(d.x0, d.x1), Math.max(d.y0, d.y1));
      prompt({ object: state.selected, points: [], box: { x0: ax, y0: ay, x1: bx, y1: by } });
    } else {
      const [x, y] = toSource(d.x0, d.y0);
      prompt({ object: state.selected, points: [{ x, y, positive: !d.negative }] });
    }
  });
  $("new-object").onclick = () => { state.selected = 0; if (state.last) renderObjects(state.last.objects); };
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
    fd.append("file", f);
    try {
      const s = await api("POST", "/api/sessions", fd);
      await watch(s.id);
    } catch (err) { showError("upload: " + err.message); }
  };
  $("source-form").onsubmit = async (e) => {
    e.preventDefault();
    const src = $("source-input").value.trim();
    if (!src) { showError("enter a path, URL or /dev/videoN"); return; }
    try {
      const s = await api("POST", "/api/sessions", JSON.stringify({ source: src }), { "Content-Type": "application/json" });
      await watch(s.id);
    } catch (err) { showError("open: " + err.message); }
  };
}

window.addEventListener("pagehide", leave);

(async function main() {
  setupCanvas();
  setupForms();
  try { await loadInfo(); } catch (e) { showError("server: " + e.message); }
  await refreshSessions();
  setInterval(refreshSessions, 3000);
  const want = new URLSearchParams(location.search).get("session");
  if (want) watch(want).catch((e) => showError(e.message));
})();
