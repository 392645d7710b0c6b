#!/usr/bin/env node
// tether: the laptop side. Parses flags, calls startLaptop, shows the pairing link and status, and
// makes sure every exit path (stop, signal, crash, refusal) puts the system back.
import { parseArgs } from "node:util";
import {
  ConfigError,
  configFromEnv,
  defaultConfigDir,
  type PartialConfig,
  readConfigFile,
  resolveConfig,
  withoutUndefined,
} from "./config.js";
import { type RunningLaptop, startLaptop } from "./laptop.js";
import { pairingQr } from "./pairing.js";
import { StatusLine } from "./status.js";
import { StatusFile, statusCommand } from "./status-file.js";

const HELP = `tether: get this laptop online through your phone's browser.

Usage:
  tether --exit wss://HOST[:PORT] --key NAME:SECRET [options]
  tether status [--json] [--config-dir DIR]

Runs until stopped (Ctrl-C). Needs root (or CAP_NET_ADMIN) for its TUN device, routes and DNS,
all of which are put back as they were when it stops, however it stops.

Options (flags win over environment, which wins over ~/.config/tether/config.json):
  --exit URL          the exit server, wss://HOST[:PORT]          TETHER_EXIT
  --key NAME:SECRET   this laptop's key from \`tether-exit keys add\`  TETHER_KEY
  --port PORT         port the phone connects to                  TETHER_PORT      [7443]
  --listen ADDRS      addresses to listen on, comma-separated     TETHER_LISTEN    [all but loopback]
  --advertise ADDR    address put in the pairing link             TETHER_ADVERTISE [first listen address]
  --tun-name NAME     TUN interface name                          TETHER_TUN       [tether0]
  --no-dns            leave the system's DNS alone                TETHER_DNS=0
  --allow-origin URL  also accept the relay page from this origin TETHER_ALLOW_ORIGINS
  --config-dir DIR    certificate, pairing secret, config.json    TETHER_CONFIG_DIR [~/.config/tether]
  -h, --help          this text

Tuning (environment only):
  TETHER_MAX_PACKETS_PER_FRAME=N   packets per message at most [512]; 1 turns batching off

\`tether status\` prints once what the running tether's status line shows (state, address, up and
down rate, round trip to the exit, data used), as text or --json; exit code 3 when none runs. It
reads status.json in the config folder, so run it as the same user (sudo tether status).

Examples:
  sudo npx tether --exit wss://exit.example.com --key alice-laptop:3q2-7w...
  sudo TETHER_EXIT=wss://exit.example.com:8443 TETHER_KEY=... npx tether --port 9443

Then open the printed link on the phone (or scan the QR code), and keep that page open.
`;

async function statusMain(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      json: { type: "boolean" },
      "config-dir": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  return statusCommand(
    values["config-dir"] ?? defaultConfigDir(process.env),
    values.json ?? false,
    process.stdout,
  );
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === "status") return statusMain(argv.slice(1));
  const { values } = parseArgs({
    args: argv,
    options: {
      exit: { type: "string" },
      key: { type: "string" },
      port: { type: "string" },
      listen: { type: "string" },
      advertise: { type: "string" },
      "tun-name": { type: "string" },
      "no-dns": { type: "boolean" },
      "allow-origin": { type: "string", multiple: true },
      "config-dir": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const configDir = values["config-dir"] ?? defaultConfigDir(process.env);
  const flags: PartialConfig = withoutUndefined({
    exit: values.exit,
    key: values.key,
    port: values.port === undefined ? undefined : Number(values.port),
    listen: values.listen
      ?.split(",")
      .map((s) => s.trim())
      .filter(Boolean),
    advertise: values.advertise,
    tunName: values["tun-name"],
    dns: values["no-dns"] ? false : undefined,
    allowOrigins: values["allow-origin"],
  });
  const config = resolveConfig(configDir, await readConfigFile(configDir), configFromEnv(process.env), flags);

  let status: StatusLine | undefined;
  let statusFile: StatusFile | undefined;
  let finish: (code: number) => void = () => undefined;
  const finished = new Promise<number>((resolve) => {
    finish = resolve;
  });
  const say = (message: string) => (status ? status.print(message) : process.stderr.write(`${message}\n`));

  const laptop: RunningLaptop = await startLaptop(config, {
    state: (state, detail) => {
      status?.state(state, detail);
      statusFile?.state(state, detail);
    },
    fatal: (error) => {
      say(`tether: ${error.message} [${error.code}]`);
      finish(1);
    },
    refused: (remote, why) => say(`tether: refused a connection from ${remote}: ${why}`),
    notice: (message) => say(`tether: ${message}`),
  });
  // Last resort: whatever kills the event loop, routes and DNS go back.
  process.on("exit", () => laptop.restoreSync());
  process.on("SIGINT", () => finish(0));
  process.on("SIGTERM", () => finish(0));
  process.on("SIGHUP", () => finish(0));
  process.on("uncaughtException", (error) => {
    say(`tether: unexpected error: ${error.message}`);
    finish(1);
  });

  process.stdout.write(
    `Tether is listening for your phone on ${laptop.addresses.map((a) => `${a}:${config.port}`).join(", ")}.\n` +
      `Open this link on the phone (or scan the code):\n\n  ${laptop.link}\n\n${await pairingQr(laptop.link)}\n`,
  );
  status = new StatusLine(laptop.tunnel, process.stdout);
  status.start();
  status.state(laptop.tunnel.state);
  statusFile = new StatusFile(config.configDir, laptop.tunnel, {
    exit: config.exit,
    listening: laptop.addresses.map((a) => `${a}:${config.port}`),
  });
  statusFile.start();

  const code = await finished;
  status.stop();
  await statusFile.stop();
  await laptop.stop();
  process.stdout.write("tether: stopped; routes and DNS are as they were\n");
  return code;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    const usage =
      error instanceof ConfigError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
    process.stderr.write(`tether: ${message}${usage ? " (see tether --help)" : ""}\n`);
    process.exit(usage ? 2 : 1);
  },
);
