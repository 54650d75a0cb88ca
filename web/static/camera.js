// "Use my camera": publishes this browser's camera to the server over WHIP
// (POST /api/whip) and watches the session it becomes. Kept apart from
// app.js; it uses app.js's watch() and showError().
"use strict";

(() => {
  const form = document.getElementById("source-form");
  if (!form) return;
  const btn = document.createElement("button");
  btn.type = "button";
  btn.id = "use-camera";
  btn.textContent = "Use my camera";
  form.after(btn);
  const pub = { pc: null, stream: null, location: null, session: null };
  window.vidseg.camera = pub;

  async function stop() {
    if (pub.location) fetch(pub.location, { method: "DELETE", keepalive: true }).catch(() => {});
    if (pub.pc) pub.pc.close();
    if (pub.stream) pub.stream.getTracks().forEach((t) => t.stop());
    Object.assign(pub, { pc: null, stream: null, location: null, session: null });
    btn.textContent = "Use my camera";
  }

  async function start() {
    pub.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
    const pc = new RTCPeerConnection();
    pub.pc = pc;
    for (const t of pub.stream.getVideoTracks()) {
      const tr = pc.addTransceiver(t, { direction: "sendonly", streams: [pub.stream] });
      // Masks are drawn at the first picture's size: prefer a lower frame
      // rate to a smaller picture when the sender must cut back.
      const p = tr.sender.getParameters();
      p.degradationPreference = "maintain-resolution";
      tr.sender.setParameters(p).catch(() => {});
    }
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((resolve) => {
      if (pc.iceGatheringState === "complete") return resolve();
      pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && resolve());
      setTimeout(resolve, 2000);
    });
    const res = await fetch("/api/whip?name=" + encodeURIComponent("my camera"), {
      method: "POST", body: pc.localDescription.sdp, headers: { "Content-Type": "application/sdp" },
    });
    if (res.status !== 201) {
      let msg = res.statusText;
      try { msg = (await res.json()).error; } catch (e) { /* not JSON */ }
      throw new Error(msg);
    }
    pub.location = res.headers.get("Location");
    pub.session = res.headers.get("X-Vidseg-Session");
    await pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
    btn.textContent = "Stop my camera";
    // The session exists once the server decoded the first picture.
    for (let i = 0; i < 100 && pub.pc === pc; i++) {
      if ((await fetch(`/api/sessions/${pub.session}`)).ok) return watch(pub.session);
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error("the server decoded no picture from the camera");
  }

  btn.onclick = async () => {
    if (pub.pc) { await stop(); return; }
    showError("");
    try { await start(); } catch (err) { showError("camera: " + err.message); await stop(); }
  };
  window.addEventListener("pagehide", () => { if (pub.location) stop(); });
})();
