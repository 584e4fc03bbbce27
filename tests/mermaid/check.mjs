// Parse each diagram given on stdin (a JSON list of strings) with Mermaid's own parser.
// Prints a JSON list: {"ok": true, "type": "xychart"} or {"ok": false, "error": "..."}.
// Mermaid sanitises text with DOMPurify, which needs a DOM: jsdom provides the window.
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import("mermaid");

let input = "";
for await (const chunk of process.stdin) input += chunk;
const results = [];
for (const text of JSON.parse(input)) {
  try {
    const parsed = await mermaid.parse(text);
    results.push({ ok: true, type: parsed.diagramType });
  } catch (error) {
    results.push({ ok: false, error: String(error && error.message ? error.message : error) });
  }
}
process.stdout.write(JSON.stringify(results));
