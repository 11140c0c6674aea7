// The browser edge: head (onnxruntime-web, WASM) -> learned-prior coder (codec.js) ->
// WebSocket session or HTTP -> the server's answer. Also cloud-only (a PNG goes up) and
// mobile-only (the whole network here). URL contract, for automation:
//   /edge/?bundle=ID&source=test&n=N&mode=split|cloud-only|mobile-only&transport=ws|http&auto=1
// sets window.splitinferResults when done.
import * as codec from "/static/codec.js";

const ort = window.ort;
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const token = params.get("access_token");
const SIDE = 28;

function authHeaders(extra = {}) {
  return token ? { ...extra, Authorization: `Bearer ${token}` } : extra;
}

async function api(path, init = {}) {
  const r = await fetch(path, { ...init, headers: authHeaders(init.headers || {}) });
  if (!r.ok) {
    let message = r.statusText;
    try { const body = await r.json(); message = `${body.error}: ${body.message}`; } catch (_) {}
    throw new Error(`${path}: ${r.status} ${message}`);
  }
  return r;
}

function status(text, error = false) {
  $("status").textContent = text;
  $("status").className = error ? "status error" : "status";
}

// --- the WebSocket session (protocol/session.py) --------------------------------------

class StreamSession {
  constructor(bundle, fingerprint, send) {
    this.bundle = bundle; this.fingerprint = fingerprint; this.send = send;
    this.nextId = 0; this.pending = new Map(); this.ws = null;
  }

  open() {
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/stream`;
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, "splitinfer.v1");
      ws.binaryType = "arraybuffer";
      let ready = false;
      ws.onopen = () => {
        const hello = { op: "hello", v: 1, bundle: this.bundle, k: 1 };
        if (this.fingerprint) hello.fingerprint = this.fingerprint;
        if (this.send !== "features") hello.send = this.send;
        if (token) hello.token = token;
        ws.send(JSON.stringify(hello));
      };
      ws.onmessage = (ev) => {
        if (!ready) {
          ready = true;
          const msg = JSON.parse(ev.data);
          if (msg.op !== "ready") reject(new Error(`expected ready, got ${ev.data}`));
          else { this.ws = ws; resolve(); }
          return;
        }
        if (typeof ev.data === "string") {
          const msg = JSON.parse(ev.data);
          const p = this.pending.get(msg.id);
          this.pending.delete(msg.id);
          if (p) p.reject(new Error(`${msg.code}: ${msg.message}`));
          return;
        }
        const bytes = new Uint8Array(ev.data);
        const r = codec.decodeSessionResult(bytes);
        const p = this.pending.get(r.id);
        this.pending.delete(r.id);
        if (p) p.resolve({ classId: r.classIds[0], bytesDown: bytes.length + 2 });
      };
      ws.onclose = (ev) => {
        const err = new Error(`session closed: ${ev.code} ${ev.reason || ""}`);
        if (!ready) reject(err);
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
        this.ws = null;
      };
    });
  }

  async infer(bytes) {
    if (!this.ws) await this.open();
    const id = this.nextId;
    this.nextId = (this.nextId + 1) >>> 0;
    const answer = new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.ws.send(bytes);
    return answer;
  }
}

// --- one bundle, one mode -----------------------------------------------------------

class Edge {
  static async load(bundle, mode, transport) {
    const e = new Edge();
    e.bundle = bundle; e.mode = mode; e.transport = transport;
    e.meta = (await (await api("/v1/bundles")).json()).bundles.find((b) => b.id === bundle);
    if (!e.meta) throw new Error(`the server does not serve bundle ${bundle}`);
    e.classes = e.meta.classes;
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.wasmPaths = "/static/vendor/";
    const t0 = performance.now();
    if (mode === "split") {
      e.tables = await (await api(`/v1/bundles/${bundle}/edge.json`)).json();
      e.cums = codec.cumulative(e.tables.freqs);
      const [c, h, w] = e.tables.feature_shape;
      e.rows = codec.tableRows(c * h * w, e.tables.tables, h * w);
      e.fingerprint = parseInt(e.tables.fingerprint, 16);
    }
    if (mode !== "cloud-only") {
      const file = mode === "split" ? "edge.onnx" : "full.onnx";
      const model = await (await api(`/v1/bundles/${bundle}/${file}`)).arrayBuffer();
      e.session = await ort.InferenceSession.create(model, { executionProviders: ["wasm"] });
    }
    e.loadMs = performance.now() - t0;
    if (transport === "ws" && mode !== "mobile-only") {
      e.stream = new StreamSession(bundle, e.tables ? e.tables.fingerprint : null,
                                   mode === "split" ? "features" : "image");
      await e.stream.open();
    }
    e.nextId = 0;
    return e;
  }

  async run(pixels) {
    if ($("share").checked) { // opted in: the input goes to the monitor, apart from inference
      await api(`/v1/monitor/input/${this.bundle}`, { method: "POST", body: pixels,
        headers: { "Content-Type": "application/octet-stream" } });
    }
    const t = { head_ms: 0, encode_ms: 0, network_ms: 0 };
    const id = this.nextId++;
    const t0 = performance.now();
    if (this.mode === "mobile-only") {
      const out = await this.session.run({ images: new ort.Tensor("uint8", pixels, [1, 1, SIDE, SIDE]) });
      const logits = out.logits.data;
      let best = 0;
      for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
      t.head_ms = performance.now() - t0;
      return { ...t, prediction: best, payload: null, bytesUp: 0, wireUp: 0, total_ms: t.head_ms };
    }
    let body;
    let payload = null;
    if (this.mode === "split") {
      const out = await this.session.run({ images: new ort.Tensor("uint8", pixels, [1, 1, SIDE, SIDE]) });
      const t1 = performance.now();
      t.head_ms = t1 - t0;
      const symbols = codec.quantize(out.features.data, this.tables.levels);
      payload = codec.arithEncode(symbols, this.rows, this.tables.freqs, this.cums);
      t.encode_ms = performance.now() - t1;
      body = this.transport === "ws" ? payload : codec.compactFrame(payload, this.fingerprint, id);
    } else {
      body = await pngOf(pixels);
      t.encode_ms = performance.now() - t0;
    }
    const t2 = performance.now();
    let classId;
    if (this.transport === "ws") {
      classId = (await this.stream.infer(body)).classId;
    } else {
      const path = this.mode === "split"
        ? `/v1/bundles/${this.bundle}/infer?k=1`
        : `/v1/bundles/${this.bundle}/infer-image?k=1&request_id=${id}`;
      const type = this.mode === "split" ? "application/x-splitinfer-frame" : "image/png";
      const r = await api(path, { method: "POST", body, headers: { "Content-Type": type } });
      classId = (await r.json()).top[0].class_id;
    }
    t.network_ms = performance.now() - t2;
    const wireUp = this.transport === "ws" ? body.length + codec.wsClientOverhead(body.length) : null;
    // bytesUp: the payload (split) or the PNG (cloud-only); an HTTP frame adds its header
    return { ...t, prediction: classId, payload, bytesUp: payload ? payload.length : body.length, wireUp,
             total_ms: performance.now() - t0 };
  }
}

async function pngOf(pixels) {
  const canvas = document.createElement("canvas");
  canvas.width = SIDE; canvas.height = SIDE;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(SIDE, SIDE);
  for (let i = 0; i < pixels.length; i++) {
    img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = pixels[i];
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
  return new Uint8Array(await blob.arrayBuffer());
}

// --- drawing ------------------------------------------------------------------------

function show(pixels, result, label, classes) {
  const canvas = $("input");
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(SIDE, SIDE);
  for (let i = 0; i < pixels.length; i++) {
    img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = pixels[i];
    img.data[4 * i + 3] = 255;
  }
  const small = document.createElement("canvas");
  small.width = SIDE; small.height = SIDE;
  small.getContext("2d").putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
  const name = classes[result.prediction];
  $("prediction").textContent = label === undefined ? name
    : `${name} ${result.prediction === label ? "✓" : `✗ (${classes[label]})`}`;
  $("detail").textContent = `${result.bytesUp} B up · head ${result.head_ms.toFixed(2)} ms · `
    + `encode ${result.encode_ms.toFixed(2)} ms · network ${result.network_ms.toFixed(2)} ms`;
}

function quantile(values, q) {
  const s = [...values].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : null;
}

function summarize(mode, transport, results, labels) {
  const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
  const wires = results.map((r) => r.wireUp).filter((w) => w !== null);
  return {
    done: true, mode, transport, count: results.length,
    correct: results.filter((r, i) => r.prediction === labels[i]).length,
    mean_payload_bytes: mean(results.map((r) => r.bytesUp)),
    mean_wire_bytes_up: wires.length ? mean(wires) : null,
    p50_ms: quantile(results.map((r) => r.total_ms), 0.5),
    p95_ms: quantile(results.map((r) => r.total_ms), 0.95),
    head_ms: quantile(results.map((r) => r.head_ms), 0.5),
    encode_ms: quantile(results.map((r) => r.encode_ms), 0.5),
    network_ms: quantile(results.map((r) => r.network_ms), 0.5),
    predictions: results.map((r) => r.prediction),
    payloads: results.map((r) => (r.payload ? codec.toHex(r.payload) : null)),
  };
}

function table(s) {
  const rows = [["mode", s.mode], ["transport", s.transport], ["images", s.count],
    ["accuracy", `${(100 * s.correct / s.count).toFixed(1)} %`],
    ["payload B (mean)", s.mean_payload_bytes?.toFixed(2)],
    ["on the wire up B (mean)", s.mean_wire_bytes_up === null ? "n/a" : s.mean_wire_bytes_up.toFixed(2)],
    ["head ms (p50)", s.head_ms?.toFixed(2)], ["encode ms (p50)", s.encode_ms?.toFixed(2)],
    ["network ms (p50)", s.network_ms?.toFixed(2)],
    ["total ms p50 / p95", `${s.p50_ms?.toFixed(2)} / ${s.p95_ms?.toFixed(2)}`]];
  $("summary").innerHTML = rows.map(([k, v]) => `<tr><th>${k}</th><td>${v ?? "–"}</td></tr>`).join("");
}

// --- sources ------------------------------------------------------------------------

async function testImages(bundle, n) {
  const data = await (await api(`/v1/bundles/${bundle}/test-images?n=${n}`)).json();
  const raw = Uint8Array.from(atob(data.pixels), (ch) => ch.charCodeAt(0));
  const images = [];
  for (let i = 0; i < data.labels.length; i++) images.push(raw.subarray(i * 784, (i + 1) * 784));
  return { images, labels: data.labels };
}

function pixelsOf(source) {
  const canvas = document.createElement("canvas");
  canvas.width = SIDE; canvas.height = SIDE;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(source, 0, 0, SIDE, SIDE);
  const rgba = ctx.getImageData(0, 0, SIDE, SIDE).data;
  const out = new Uint8Array(SIDE * SIDE);
  for (let i = 0; i < out.length; i++) {
    out[i] = Math.round(0.299 * rgba[4 * i] + 0.587 * rgba[4 * i + 1] + 0.114 * rgba[4 * i + 2]);
  }
  return out;
}

let edge = null;

async function current() {
  const bundle = $("bundle").value, mode = $("mode").value, transport = $("transport").value;
  if (!edge || edge.bundle !== bundle || edge.mode !== mode || edge.transport !== transport) {
    status(`loading ${bundle} (${mode}, ${transport})…`);
    edge = await Edge.load(bundle, mode, transport);
  }
  return edge;
}

async function runTest(n) {
  const e = await current();
  const { images, labels } = await testImages(e.bundle, n);
  const results = [];
  for (let i = 0; i < images.length; i++) {
    const r = await e.run(images[i]);
    results.push(r);
    show(images[i], r, labels[i], e.classes);
    status(`${i + 1} / ${images.length}`);
  }
  const s = summarize(e.mode, e.transport, results, labels);
  table(s);
  const report = { bundle: e.bundle, mode: e.mode, transport: e.transport, count: s.count,
                   head_ms: s.head_ms, encode_ms: s.encode_ms, network_ms: s.network_ms };
  await api("/v1/monitor/edge-report", { method: "POST", body: JSON.stringify(report),
                                         headers: { "Content-Type": "application/json" } });
  status(`done: ${s.correct} / ${s.count} correct (session ready in ${e.loadMs.toFixed(0)} ms)`);
  return s;
}

async function runOne(pixels) {
  const e = await current();
  const r = await e.run(pixels);
  show(pixels, r, undefined, e.classes);
  status("done");
}

async function main() {
  if (!ort) throw new Error("onnxruntime-web is not installed on this server (run `make web`)");
  const bundles = (await (await api("/v1/bundles")).json()).bundles;
  $("bundle").innerHTML = bundles.map((b) => `<option>${b.id}</option>`).join("");
  for (const key of ["bundle", "mode", "transport"]) if (params.get(key)) $(key).value = params.get(key);
  if (params.get("n")) $("count").value = params.get("n");
  $("share").checked = params.get("share_input") === "1";
  $("run-test").onclick = () => runTest(Number($("count").value)).catch(fail);
  $("file").onchange = async (ev) => {
    const file = ev.target.files[0];
    if (!file) return;
    const bitmap = await createImageBitmap(file);
    runOne(pixelsOf(bitmap)).catch(fail);
  };
  $("camera").onclick = async () => {
    try {
      const video = $("video");
      video.srcObject = await navigator.mediaDevices.getUserMedia({ video: true });
      await video.play();
      const loop = async () => { await runOne(pixelsOf(video)); setTimeout(loop, 200); };
      loop();
    } catch (err) {
      fail(new Error(`camera: ${err.message} (off loopback the page needs HTTPS: serve --tls-cert/--tls-key)`));
    }
  };
  status("ready");
  if (params.get("auto") === "1" && params.get("source") === "test") {
    window.splitinferResults = await runTest(Number(params.get("n") || 100));
  }
}

function fail(err) {
  status(err.message, true);
  console.error(err);
  window.splitinferResults = { done: true, error: err.message };
}

main().catch(fail);
