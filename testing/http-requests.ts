// Hostile HTTP/1.1 requests for the servers' fuzz tests (only tests import this file): what a
// scanner or a device on the hotspot can send before any key or pairing secret is checked.
// Weighted toward requests that get past Node's parser and reach the servers' own listeners
// (plain GETs and WebSocket upgrades with odd targets, queries and headers), plus broken request
// lines, header lines and bodies that Node's parser must refuse on its own.
import { connect as tcpConnect } from "node:net";
import { connect as tlsConnect } from "node:tls";
import fc from "fast-check";

/** Cases per server in the HTTP fuzz tests (the issue asks for at least 10k). */
export const HTTP_FUZZ_CASES = 10_000;

const SEGMENTS = ["tunnel", "relay", "healthz", "metrics", "index.html", "assets", "..", ".", "", "%2e%2e"];
const PARAMS = ["encoding", "secret", "x", ""];
const WEIRD = ["%", "%zz", "%00", "%ff", "\\", "//", "?", "#", "@", ":", ";", "*", "~", "é", "\u2028", "\t"];

const token = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}$/);
const anyText = (max: number) =>
  fc.string({ unit: "binary", maxLength: max }).map((s) => s.replace(/[\r\n]/g, ""));
const printable = (max: number) => fc.stringMatching(new RegExp(`^[ -~]{0,${max}}$`));
const segment = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...SEGMENTS) },
  { weight: 2, arbitrary: fc.constantFrom(...WEIRD) },
  { weight: 1, arbitrary: printable(12).map((s) => s.replace(/[ ?#]/g, "")) },
);
const query = fc
  .array(
    fc.tuple(
      fc.oneof(fc.constantFrom(...PARAMS), token),
      fc.oneof(fc.constantFrom("binary", "base64", "", "%", "x".repeat(300)), token),
    ),
    { maxLength: 4 },
  )
  .map((pairs) => (pairs.length ? `?${pairs.map(([k, v]) => `${k}=${v}`).join("&")}` : ""));

/** A request target: mostly paths (with `//`, dot segments, escapes), sometimes no path at all. */
export const target = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .tuple(fc.array(segment, { minLength: 0, maxLength: 5 }), query, fc.boolean())
      .map(([parts, q, doubled]) => `${doubled ? "/" : ""}/${parts.join("/")}${q}`),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "/relay?secret=x",
      "/relay?secret=x&encoding=base64",
      "/tunnel",
      "/tunnel?encoding=base64",
    ),
  },
  { weight: 1, arbitrary: fc.constantFrom("//", "///", "//tunnel", "//relay", "//x:1/", "/\\\\x", "*", "") },
  { weight: 1, arbitrary: fc.constantFrom("http://x/tunnel", "https://[::1]/relay", "http://[", "x", "%") },
  { weight: 1, arbitrary: anyText(40).map((s) => s.replace(/ /g, "")) },
);

const method = fc.oneof(
  { weight: 6, arbitrary: fc.constant("GET") },
  { weight: 2, arbitrary: fc.constantFrom("HEAD", "POST", "PUT", "OPTIONS", "DELETE", "CONNECT", "PRI") },
  { weight: 1, arbitrary: token },
);
const version = fc.oneof(
  { weight: 8, arbitrary: fc.constant("HTTP/1.1") },
  {
    weight: 1,
    arbitrary: fc.constantFrom("HTTP/1.0", "HTTP/2.0", "HTTP/0.9", "HTTP/1.1 extra", "", "http/1.1"),
  },
);

const upgradeHeaders = fc
  .tuple(
    fc.oneof(
      { weight: 4, arbitrary: fc.constant("websocket") },
      fc.constantFrom("WebSocket", "h2c", "", "websocket, x"),
    ),
    fc.oneof(
      { weight: 4, arbitrary: fc.constant("Upgrade") },
      fc.constantFrom("upgrade, keep-alive", "close", ""),
    ),
    fc.oneof({ weight: 4, arbitrary: fc.constant("dGhlIHNhbXBsZSBub25jZQ==") }, token, fc.constant("")),
    fc.oneof({ weight: 4, arbitrary: fc.constant("13") }, fc.constantFrom("8", "", "abc", "13, 8")),
    fc.option(
      fc.constantFrom("https://exit.example", "https://exit.example", "null", "", "https://evil.example"),
    ),
  )
  .map(([upgrade, connection, key, wsVersion, origin]) => [
    `Upgrade: ${upgrade}`,
    `Connection: ${connection}`,
    `Sec-WebSocket-Key: ${key}`,
    `Sec-WebSocket-Version: ${wsVersion}`,
    ...(origin === null ? [] : [`Origin: ${origin}`]),
  ]);

const oddHeader = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(token, printable(60)).map(([name, value]) => `${name}: ${value}`) },
  { weight: 1, arbitrary: fc.tuple(token, anyText(60)).map(([name, value]) => `${name}: ${value}`) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "Content-Length: 5",
      "Content-Length: -1",
      "Content-Length: 99999999999999999999",
      "Content-Length: 1\r\nContent-Length: 2",
      "Transfer-Encoding: chunked",
      "Transfer-Encoding: gzip, chunked",
      "Host:",
      "Host: a\r\nHost: b",
      " folded: continuation",
      "NoColonHere",
      ": empty-name",
      `X-Long: ${"a".repeat(9000)}`,
      "Expect: 100-continue",
    ),
  },
);

const body = fc.oneof(
  { weight: 6, arbitrary: fc.constant("") },
  { weight: 1, arbitrary: fc.constantFrom("hello", "0\r\n\r\n", "5\r\nhello\r\n0\r\n\r\n", "zz\r\n") },
  { weight: 1, arbitrary: anyText(64) },
);

/** One raw request: request line, headers, blank line, body; as latin1 bytes. */
export const rawRequest = fc
  .tuple(
    method,
    target,
    version,
    fc.oneof({ weight: 9, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    fc.option(upgradeHeaders, { freq: 2 }),
    fc.array(oddHeader, { maxLength: 2 }),
    body,
    fc.integer({ min: 0, max: 9 }),
  )
  .map(([m, t, v, host, upgrade, odd, b, mangle]) => {
    const lines = [
      `${m} ${t} ${v}`.trimEnd(),
      ...(host ? ["Host: 127.0.0.1"] : []),
      ...(upgrade ?? []),
      ...odd,
    ];
    let text = `${lines.join("\r\n")}\r\n\r\n${b}`;
    if (mangle === 0) text = text.replace(/\r\n/g, "\n"); // bare LF line ends
    if (mangle === 1) text = text.slice(0, Math.max(1, text.length >> 1)); // cut short
    return text;
  });

export interface Answer {
  /** The status line's code, or undefined when the server closed without one. */
  status: number | undefined;
  /** The server neither answered nor closed within the case's time. */
  timedOut: boolean;
}

let ticket: Buffer | undefined;

/** Longest one case may take: the servers answer or close at once; a half request waits this. */
const CASE_TIMEOUT_MS = 1_500;

/**
 * Sends `request` on a fresh connection (TLS when `tls`), half-closes, and resolves with the status
 * the server answered (undefined if none) once the server closes or the case's time is up.
 */
export function send(port: number, request: string, tls = false): Promise<Answer> {
  return new Promise((resolve) => {
    let first = "";
    const socket = tls
      ? tlsConnect({
          host: "127.0.0.1",
          port,
          rejectUnauthorized: false,
          servername: "localhost",
          ...(ticket ? { session: ticket } : {}),
        })
      : tcpConnect({ host: "127.0.0.1", port });
    // Resumed sessions: 10k full handshakes would be most of the test's time (client and server
    // share one thread), and the handshake is not what is fuzzed.
    if (tls)
      socket.once("session", (session: Buffer) => {
        ticket = session;
      });
    let timedOut = false;
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(first)?.[1];
      resolve({ status: status === undefined ? undefined : Number(status), timedOut });
    };
    const timer = setTimeout(() => {
      timedOut = true;
      done();
    }, CASE_TIMEOUT_MS);
    socket.once(tls ? "secureConnect" : "connect", () => {
      socket.end(Buffer.from(request, "latin1"));
    });
    socket.on("data", (chunk: Buffer) => {
      if (first.length < 64) first += chunk.toString("latin1");
    });
    socket.on("error", () => undefined);
    socket.on("close", done);
  });
}

/** Runs `cases` through `send` with `parallel` connections at once; resolves with each answer. */
export async function sendAll(
  port: number,
  cases: readonly string[],
  options: { tls?: boolean; parallel?: number } = {},
): Promise<Answer[]> {
  const answers: Answer[] = new Array(cases.length);
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const index = next++;
      answers[index] = await send(port, cases[index]!, options.tls);
    }
  };
  await Promise.all(Array.from({ length: options.parallel ?? 16 }, worker));
  return answers;
}
