// node tests/ui/check_codec.mjs GOLDEN.json CODEC.js: the JS coder on Python's vectors.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const golden = JSON.parse(readFileSync(process.argv[2], "utf8"));
const c = await import(pathToFileURL(process.argv[3]).href);
let failures = 0;
const check = (what, got, want) => {
  if (got !== want) { failures++; console.log(`FAIL ${what}: got ${got}, want ${want}`); }
};
golden.arith.forEach((t, i) => {
  const msg = c.arithEncode(t.symbols, t.rows, t.freqs, c.cumulative(t.freqs));
  check(`arith case ${i}`, c.toHex(msg), t.message);
});
const b = golden.bundle;
const cums = c.cumulative(b.freqs);
const n = b.shape[0] * b.shape[1] * b.shape[2];
const rows = c.tableRows(n, b.tables, b.shape[1] * b.shape[2]);
b.cases.forEach((t, i) => {
  const symbols = c.quantize(Float32Array.from(t.features), b.levels);
  check(`symbols ${i}`, symbols.join(","), t.symbols.join(","));
  const payload = c.arithEncode(symbols, rows, b.freqs, cums);
  check(`payload ${i}`, c.toHex(payload), t.payload);
  check(`frame ${i}`, c.toHex(c.compactFrame(payload, b.fingerprint, t.request_id)), t.frame);
});
console.log(`${golden.arith.length + 3 * b.cases.length - failures} passed, ${failures} failed`);
process.exit(failures ? 1 : 0);
