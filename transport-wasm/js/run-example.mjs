// Runs the compiled typed example (example.ts) under Node against the chaos upstream:
//   node run-example.mjs <dir with example.js> <chaos base URL>
// Loads the package the way a Node program does (initSync with the module's bytes), and fails
// (exit 1) unless every result is what the tour expects.
import { readFile } from "node:fs/promises";
import { pathToFileURL } from "node:url";
import { join } from "node:path";
import { initSync } from "tether-wasm";

const [dir, base] = process.argv.slice(2);
const wasm = await readFile(new URL("./tether_wasm_bg.wasm", import.meta.resolve("tether-wasm")));
initSync({ module: wasm });
const { tour } = await import(pathToFileURL(join(dir, "example.js")).href);
const key = `tour-${process.pid}-${Date.now()}`;
const r = await tour(base, key);
const expect = {
  status: 200,
  attempts: 3,
  fromCache: true,
  requestId: `tour-${key}`,
  errorKind: "status",
  errorStatus: 404,
  breaker: "CLOSED",
  responsesSeen: 5,
};
const wrong = Object.entries(expect).filter(([k, v]) => r[k] !== v);
if (wrong.length > 0 || !(r.successRate > 0.7) || r.prometheusLines < 20) {
  console.error("[wasm] typed example: unexpected result", JSON.stringify(r), wrong);
  process.exit(1);
}
console.log(`[wasm] typed example OK under Node: ${JSON.stringify(r)}`);
