// Entry point: the test internet's web server, run inside a namespace by e2e/internet.ts:
//   node --import tsx e2e/internet-server.ts --host 198.51.100.2 --port 80
//
//   GET /                       a small HTML page (for a browser)
//   GET /hello                  "hello from the internet" (text/plain)
//   GET /bytes/<N>?seed=<S>     N deterministic bytes (N <= 1 GiB), streamed; hash with expectedSha256
//   GET /stats                  {"requests","bytesServed"} counted since start, /stats itself excluded
//
// Prints one JSON line per event on stdout ({"event":"listening"...}, one per finished request).
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { parseArgs } from "node:util";
import { HELLO_HTML, HELLO_TEXT, parseBytesRequest, payloadChunks } from "./content.js";

const { values } = parseArgs({
  options: { host: { type: "string" }, port: { type: "string" } },
});
const host = values.host ?? "198.51.100.2";
const port = Number(values.port ?? "80");

const stats = { requests: 0, bytesServed: 0 };

function log(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

function drainedOrClosed(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = req.url ?? "/";
  if (req.method !== "GET") {
    res.writeHead(405, { allow: "GET" }).end();
    return;
  }
  if (path === "/stats") {
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(stats));
    return;
  }
  stats.requests += 1;
  if (path === "/" || path === "/hello") {
    const body = Buffer.from(path === "/" ? HELLO_HTML : HELLO_TEXT);
    res.writeHead(200, {
      "content-type": path === "/" ? "text/html; charset=utf-8" : "text/plain; charset=utf-8",
      "content-length": body.length,
    });
    stats.bytesServed += body.length;
    res.end(body);
    return;
  }
  const bytes = parseBytesRequest(path);
  if (bytes === undefined) {
    res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    return;
  }
  if ("error" in bytes) {
    res.writeHead(400, { "content-type": "text/plain" }).end(`${bytes.error}\n`);
    return;
  }
  res.writeHead(200, {
    "content-type": "application/octet-stream",
    "content-length": bytes.n,
    "cache-control": "no-store",
  });
  for (const chunk of payloadChunks(bytes.n, bytes.seed)) {
    if (res.destroyed) return;
    stats.bytesServed += chunk.length;
    // Honour backpressure; a client that goes away ends the wait too.
    if (!res.write(chunk)) await drainedOrClosed(res);
  }
  res.end();
}

const server = createServer((req, res) => {
  const started = Date.now();
  res.once("close", () =>
    log({
      event: "request",
      path: req.url,
      status: res.statusCode,
      complete: res.writableFinished,
      ms: Date.now() - started,
    }),
  );
  handle(req, res).catch((err: unknown) => {
    log({ event: "error", path: req.url, error: String(err) });
    res.destroy();
  });
});
server.listen(port, host, () => log({ event: "listening", host, port }));
