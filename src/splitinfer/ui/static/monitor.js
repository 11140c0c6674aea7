// Live server statistics from /v1/monitor/events (server-sent events, one per second):
// per bundle, counters, a time chart, and the last restored feature tensor as tiles.
const $ = (id) => document.getElementById(id);
const history = new Map(); // bundle -> [{at, rps, total_ms, bytes_up}]
const KEEP = 120;

function card(label, value, unit = "") {
  return `<div class="card"><b>${value ?? "–"}</b><span>${label}${unit ? ` (${unit})` : ""}</span></div>`;
}

function section(b) {
  let el = document.getElementById(`b-${b.bundle}`);
  if (!el) {
    el = document.createElement("section");
    el.id = `b-${b.bundle}`;
    el.innerHTML = `<h2>${b.bundle}</h2><div class="cards"></div>
      <div class="row"><canvas class="chart" width="440" height="200"></canvas>
      <div class="shared" hidden><canvas class="input" width="112" height="112"></canvas>
      <div class="status">input (a client opted in)</div></div>
      <div><canvas class="tiles" width="256" height="256"></canvas>
      <div class="status">restored features (last request), channels tiled</div></div></div>
      <p class="status errors"></p><p class="status top"></p>`;
    $("bundles").appendChild(el);
  }
  return el;
}

function drawChart(canvas, points) {
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height;
  ctx.clearRect(0, 0, W, H);
  const series = [["rps", "#1f6feb", "requests/s"], ["total_ms", "#d1242f", "server ms (p50)"],
                  ["bytes_up", "#2da44e", "bytes up / inference"]];
  const band = H / series.length; // one band per series, each scaled to its own max
  series.forEach(([key, color, label], k) => {
    const values = points.map((p) => p[key] ?? 0);
    const max = Math.max(1e-9, ...values);
    const top = k * band + 16, bottom = (k + 1) * band - 4;
    ctx.strokeStyle = "#e3e6eb"; ctx.beginPath();
    ctx.moveTo(0, bottom + 2); ctx.lineTo(W, bottom + 2); ctx.stroke();
    ctx.strokeStyle = color; ctx.lineWidth = 2; ctx.beginPath();
    values.forEach((v, i) => {
      const x = (i / Math.max(1, points.length - 1)) * (W - 10) + 5;
      const y = bottom - (v / max) * (bottom - top);
      i ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
    });
    ctx.stroke(); ctx.lineWidth = 1;
    ctx.fillStyle = color;
    ctx.fillText(`${label}: now ${values[values.length - 1].toFixed(1)}, max ${max.toFixed(1)}`, 8, k * band + 12);
  });
}

function drawTiles(canvas, t) {
  if (!t) return;
  const cols = Math.ceil(Math.sqrt(t.channels)), rows = Math.ceil(t.channels / cols);
  const small = document.createElement("canvas");
  small.width = cols * (t.width + 1); small.height = rows * (t.height + 1);
  const ctx = small.getContext("2d");
  const img = ctx.createImageData(small.width, small.height);
  for (let c = 0; c < t.channels; c++) {
    const ox = (c % cols) * (t.width + 1), oy = Math.floor(c / cols) * (t.height + 1);
    for (let y = 0; y < t.height; y++) for (let x = 0; x < t.width; x++) {
      const v = t.pixels[(c * t.height + y) * t.width + x];
      const i = 4 * ((oy + y) * small.width + ox + x);
      img.data[i] = img.data[i + 1] = img.data[i + 2] = v; img.data[i + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
  const out = canvas.getContext("2d");
  out.imageSmoothingEnabled = false;
  out.clearRect(0, 0, canvas.width, canvas.height);
  out.drawImage(small, 0, 0, canvas.width, canvas.height);
}

function update(snapshot) {
  $("status").textContent = `live · window ${snapshot.window_s} s`;
  for (const b of snapshot.bundles) {
    const el = section(b);
    el.dataset.total = b.total;
    const points = history.get(b.bundle) || [];
    points.push({ rps: b.rps, total_ms: b.total_ms, bytes_up: b.bytes_up });
    if (points.length > KEEP) points.shift();
    history.set(b.bundle, points);
    el.querySelector(".cards").innerHTML = [
      card("requests (total)", b.total), card("requests/s", b.rps),
      card("bytes up / inference", b.bytes_up, "B"), card("queue", b.queue_ms, "ms"),
      card("decode", b.decode_ms, "ms"), card("compute", b.compute_ms, "ms"),
      card("server total", b.total_ms, "ms"), card("batch size (mean)", b.batch),
      ...(b.edge ? [card(`edge head (${b.edge.mode}, ${b.edge.transport})`, b.edge.head_ms, "ms"),
                    card("edge encode", b.edge.encode_ms, "ms"),
                    card("edge network", b.edge.network_ms, "ms")] : []),
    ].join("");
    const errors = Object.entries(b.errors).map(([k, v]) => `${k}: ${v}`).join(", ");
    el.querySelector(".errors").textContent = `errors: ${errors || "none"}`;
    el.querySelector(".top").textContent = `recent top classes: ${(b.top_classes || []).join(", ")}`;
    drawChart(el.querySelector(".chart"), points);
    drawTiles(el.querySelector(".tiles"), b.tiles);
    el.querySelector(".shared").hidden = !b.input;
    drawTiles(el.querySelector(".input"), b.input);
  }
  window.splitinferMonitor = snapshot;
}

const events = new EventSource("/v1/monitor/events");
events.onmessage = (ev) => update(JSON.parse(ev.data));
events.onerror = () => { $("status").textContent = "disconnected: retrying…"; };
