// The media directory's gallery: the server's videos (GET /api/media)
// with a thumbnail each; a click opens one to scrub and track. Shown only
// when the server has a media root. Kept apart from app.js; it uses
// app.js's create(), authHeaders() and jsonHeaders.
"use strict";

(() => {
  const form = document.getElementById("source-form");
  if (!form) return;
  const head = document.createElement("h2");
  head.id = "gallery-title";
  head.textContent = "Media directory";
  head.hidden = true;
  const ul = document.createElement("ul");
  ul.id = "gallery";
  ul.setAttribute("aria-labelledby", "gallery-title");
  ul.hidden = true;
  form.after(head, ul);
  const g = { files: [], truncated: false, loaded: false };
  window.vidseg.gallery = g;

  async function load() {
    let res;
    try { res = await fetch("/api/media", { headers: authHeaders() }); } catch (e) { return; }
    if (!res.ok) return; // no media directory on this server
    const list = await res.json();
    g.files = list.files || [];
    g.truncated = !!list.truncated;
    ul.textContent = "";
    for (const f of g.files) {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.className = "clip";
      b.dataset.name = f.name;
      b.title = `open ${f.name} to scrub and track`;
      const img = document.createElement("img");
      img.alt = "";
      img.loading = "lazy";
      img.src = "/api/media/thumbnail?name=" + encodeURIComponent(f.name);
      const span = document.createElement("span");
      span.textContent = f.name;
      b.append(img, span);
      b.onclick = () => create(JSON.stringify({ source: f.name, mode: "edit" }), jsonHeaders, "open " + f.name);
      li.append(b);
      ul.append(li);
    }
    if (g.truncated) {
      const li = document.createElement("li");
      li.className = "more";
      li.textContent = `the first ${g.files.length} shown; type a path above for the others`;
      ul.append(li);
    }
    head.hidden = ul.hidden = g.files.length === 0;
    g.loaded = true;
  }
  g.reload = load;
  load();
})();
