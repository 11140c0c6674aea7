// splitinfer's edge-side coding in JavaScript, bit-exact with Python:
//   quantize   = bottleneck/prior.py LearnedCodec.symbols (float32, round half to even)
//   arithEncode = codecs/arith.py encode (exact big-integer arithmetic coder, BigInt here)
//   compactFrame = wire.py encode_frame for a compact frame (kind 1, CRC-32)
// Golden vectors shared with Python: tests/ui/golden/*.json.
// (The range coder for large latents is not implemented here: the browser codes
// learned-prior bundles only.)

export const PRECISION = 16;
export const TOTAL = 1 << PRECISION;

// Frequency rows -> cumulative rows (cum[k][s] = sum of freqs[k][0..s-1]).
export function cumulative(freqs) {
  return freqs.map((row) => {
    const cum = [0];
    for (const f of row) cum.push(cum[cum.length - 1] + f);
    if (cum[cum.length - 1] !== TOTAL) throw new Error("a frequency row must sum to 2**16");
    return cum;
  });
}

function roundHalfEven(v) {
  const r = Math.round(v);
  return Math.abs(v - Math.trunc(v)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// Float32 features in [0, 1] -> symbols 0..levels-1, as torch: round(clamp(x,0,1)*(L-1)).
export function quantize(features, levels) {
  const out = new Array(features.length);
  for (let i = 0; i < features.length; i++) {
    const x = Math.min(Math.max(features[i], 0), 1);
    out[i] = roundHalfEven(Math.fround(x * (levels - 1)));
  }
  return out;
}

// Which table codes element i: per element, or per channel of h*w elements.
export function tableRows(n, tables, perChannel) {
  const rows = new Array(n);
  for (let i = 0; i < n; i++) rows[i] = tables === "channel" ? Math.floor(i / perChannel) : i;
  return rows;
}

function bitLength(v) {
  return v === 0n ? 0 : v.toString(2).length;
}

// The shortest message (Uint8Array) for symbols[i] coded with table rows[i].
export function arithEncode(symbols, rows, freqs, cums) {
  let low = 0n;
  let width = 1n;
  const P = BigInt(PRECISION);
  for (let i = 0; i < symbols.length; i++) {
    const s = symbols[i];
    const r = rows[i];
    low = (low << P) + width * BigInt(cums[r][s]);
    width *= BigInt(freqs[r][s]);
  }
  const scale = PRECISION * symbols.length;
  let m = Math.max(0, Math.floor((scale - bitLength(width)) / 8) - 1);
  for (;;) {
    const shift = BigInt(scale - 8 * m);
    const value = -((-low) >> shift); // ceil(low / 2**shift)
    if (value << shift < low + width) {
      const out = new Uint8Array(m);
      let v = value;
      for (let j = m - 1; j >= 0; j--) {
        out[j] = Number(v & 0xffn);
        v >>= 8n;
      }
      return out;
    }
    m += 1;
  }
}

function varint(value) {
  const out = [];
  while (value >= 0x80) {
    out.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(bytes) {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// wire.py compact frame: magic 0x89 'S', version 1, kind 1, varint payload length,
// u32 BE fingerprint, varint request id, payload, CRC-32 BE of everything before it.
export function compactFrame(payload, fingerprint, requestId) {
  const head = [0x89, 0x53, 1, 1, ...varint(payload.length),
    (fingerprint >>> 24) & 0xff, (fingerprint >>> 16) & 0xff, (fingerprint >>> 8) & 0xff,
    fingerprint & 0xff, ...varint(requestId)];
  const body = new Uint8Array(head.length + payload.length + 4);
  body.set(head, 0);
  body.set(payload, head.length);
  const crc = crc32(body.subarray(0, head.length + payload.length));
  const end = head.length + payload.length;
  body[end] = crc >>> 24; body[end + 1] = (crc >>> 16) & 0xff;
  body[end + 2] = (crc >>> 8) & 0xff; body[end + 3] = crc & 0xff;
  return body;
}

// protocol/session.py session result: varint id, varint k, k varint class ids, k f32 BE.
export function decodeSessionResult(bytes) {
  let pos = 0;
  const readVarint = () => {
    let value = 0, mul = 1;
    for (;;) {
      const b = bytes[pos++];
      if (b === undefined) throw new Error("truncated session result");
      value += (b & 0x7f) * mul;
      if (b < 0x80) return value;
      mul *= 128;
    }
  };
  const id = readVarint();
  const k = readVarint();
  const classIds = [];
  for (let i = 0; i < k; i++) classIds.push(readVarint());
  const view = new DataView(bytes.buffer, bytes.byteOffset + pos);
  const scores = [];
  for (let i = 0; i < k; i++) scores.push(view.getFloat32(4 * i, false));
  return { id, classIds, scores };
}

// Bytes a browser's WebSocket frame adds to a client message of n bytes (RFC 6455:
// 2 header bytes, 2 or 8 more for long messages, a 4-byte mask).
export function wsClientOverhead(n) {
  return 2 + 4 + (n >= 65536 ? 8 : n >= 126 ? 2 : 0);
}

export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
