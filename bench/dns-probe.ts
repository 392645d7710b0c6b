// The bench's DNS probe, run inside the laptop's namespace beside a saturating transfer: from
// --start-at (epoch ms) on, one A query every --interval-ms for --seconds, each from a fresh UDP
// socket (a new source port, as a stub resolver does: each query is a flow of its own), timed
// until its answer or --timeout-ms. Prints one JSON line (dns.ts DnsProbeResult) and exits.
//
//   node --import tsx bench/dns-probe.ts --server 198.51.100.2 --name internet.test \
//        --start-at 1764630000000 --seconds 10 [--interval-ms 20] [--timeout-ms 2000] [--port 53]
import { createSocket, type Socket } from "node:dgram";
import { isIPv6 } from "node:net";
import { parseArgs } from "node:util";
import { buildQuery, type DnsProbeResult, readReply } from "./dns.js";

/** Most queries one probe sends, whatever it is asked: bounds the loop. */
const MAX_QUERIES = 10_000;

const { values } = parseArgs({
  options: {
    server: { type: "string" },
    name: { type: "string" },
    "start-at": { type: "string" },
    seconds: { type: "string" },
    "interval-ms": { type: "string", default: "20" },
    "timeout-ms": { type: "string", default: "2000" },
    port: { type: "string", default: "53" },
  },
});
const server = values.server ?? "";
const name = values.name ?? "";
const startAt = Number(values["start-at"] ?? Date.now());
const seconds = Number(values.seconds);
const intervalMs = Number(values["interval-ms"]);
const timeoutMs = Number(values["timeout-ms"]);
const port = Number(values.port);
if (!server || !name || !(seconds > 0) || !(intervalMs >= 1) || !(timeoutMs >= 1)) {
  process.stderr.write("dns-probe: --server, --name, --seconds > 0 needed (see the file's head)\n");
  process.exit(2);
}

const result: DnsProbeResult = { sent: 0, timesMs: [], refused: 0 };
const queries = Math.min(MAX_QUERIES, Math.floor((seconds * 1000) / intervalMs));
const open = new Set<Socket>();

function query(index: number): void {
  const id = index & 0xffff;
  const socket = createSocket(isIPv6(server) ? "udp6" : "udp4");
  open.add(socket);
  const sentAt = performance.now();
  const done = () => {
    clearTimeout(timer);
    open.delete(socket);
    socket.close();
  };
  const timer = setTimeout(done, timeoutMs);
  socket.on("error", done);
  socket.on("message", (message) => {
    const reply = readReply(message);
    if (!reply || reply.id !== id) return;
    if (reply.answered) result.timesMs.push(performance.now() - sentAt);
    else result.refused++;
    done();
  });
  result.sent++;
  socket.send(buildQuery(id, name), port, server);
}

function finish(): void {
  for (const socket of open) socket.close();
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

setTimeout(
  () => {
    let index = 0;
    const tick = setInterval(() => {
      if (index >= queries) {
        clearInterval(tick);
        setTimeout(finish, timeoutMs + 50);
        return;
      }
      query(index++);
    }, intervalMs);
  },
  Math.max(0, startAt - Date.now()),
);
