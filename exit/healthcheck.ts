#!/usr/bin/env node
// The container's HEALTHCHECK: asks the exit on this machine for /healthz, with the same environment
// as the exit (TETHER_EXIT_LISTEN, TETHER_EXIT_CERT), and exits 0 only for 200 (ready: TUN and
// NAT up, not shutting down). The certificate is not checked: it is this machine asking itself.
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";

/** The probe gives up after this long, ms (the HEALTHCHECK's own timeout is longer). */
const PROBE_TIMEOUT_MS = 3_000;

const listen = process.env.TETHER_EXIT_LISTEN || "0.0.0.0:8443";
const match = /^(.*):(\d{1,5})$/.exec(listen);
const bound = match?.[1]?.replace(/^\[|\]$/g, "") ?? "";
const host = !bound || bound === "0.0.0.0" || bound === "::" ? "127.0.0.1" : bound;
const port = Number(match?.[2] ?? 8443);
const tls = Boolean(process.env.TETHER_EXIT_CERT && process.env.TETHER_EXIT_TLS_KEY);
const request = tls ? httpsRequest : httpRequest;

const probe = request(
  { host, port, path: "/healthz", timeout: PROBE_TIMEOUT_MS, rejectUnauthorized: false },
  (response) => {
    response.resume();
    process.stdout.write(`healthz: ${response.statusCode}\n`);
    process.exit(response.statusCode === 200 ? 0 : 1);
  },
);
probe.on("timeout", () => probe.destroy(new Error("timed out")));
probe.on("error", (error) => {
  process.stdout.write(`healthz: ${error.message}\n`);
  process.exit(1);
});
probe.end();
