#!/usr/bin/env node
// tether-exit: wires flags and environment into startExit, and manages client keys.
import { readFile } from "node:fs/promises";
import { crashReport } from "../cli/crash.js";
import { UsageError } from "../cli/errors.js";
import { helpText } from "../cli/help.js";
import { runMain } from "../cli/main.js";
import { defaultsOf, readArgv, readEnv } from "../cli/options.js";
import { EXIT_PROGRAM, laptopInvocation, versionLine } from "../cli/package.js";
import { formatClientKey, isValidClientId } from "../protocol/client-key.js";
import { certificateAdvice, publicUrlOf } from "./certificate-check.js";
import { defaultKeysFile, EXIT_OPTIONS, type ExitSettings, exitOptions } from "./cli-options.js";
import { startExit } from "./exit.js";
import { addKey, loadKeys, revokeKey } from "./keys.js";
import { readTls } from "./tls.js";

const HELP = helpText(EXIT_OPTIONS, {
  title: `${EXIT_PROGRAM}: the internet side of Tether. Serves the phone app and NATs laptops' traffic.`,
  usage: [
    `${EXIT_PROGRAM} [serve] [options]     run the exit (needs root or CAP_NET_ADMIN, and /dev/net/tun)`,
    `${EXIT_PROGRAM} keys add NAME         create a client key for a laptop; prints it once`,
    `${EXIT_PROGRAM} keys list             list key names`,
    `${EXIT_PROGRAM} keys revoke NAME      remove a key`,
  ],
  about: "Each option can also be set in the environment (the variable under it); flags win.",
  notes: `Signals: SIGTERM or SIGINT stops (sessions told, nftables table and TUN removed); SIGHUP reloads
the TLS certificate and key from --cert and --tls-key.`,
  examples: [
    `${EXIT_PROGRAM} keys add alice-laptop`,
    `${EXIT_PROGRAM} --cert /etc/tether/cert.pem --tls-key /etc/tether/key.pem`,
    `TETHER_EXIT_LISTEN=127.0.0.1:8080 ${EXIT_PROGRAM}      # behind a reverse proxy that terminates TLS`,
  ],
});

/** The exit's public URL for the line `keys add` prints: --public-url, else the certificate's name. */
async function keysPublicUrl(settings: ExitSettings): Promise<string | undefined> {
  const certPem = settings.cert ? await readFile(settings.cert, "utf8").catch(() => undefined) : undefined;
  const port = (settings.listen ?? EXIT_OPTIONS.listen.default!).port;
  try {
    return publicUrlOf(settings.publicUrl, certPem, port);
  } catch {
    return settings.publicUrl; // a certificate that does not parse: serve will say so
  }
}

async function keysCommand(args: string[], keysFile: string, publicUrl: string | undefined): Promise<void> {
  const [action, name, ...extra] = args;
  if (extra.length)
    throw new UsageError("USAGE_UNKNOWN_COMMAND", `keys ${action} takes one name: ${args.join(" ")}`);
  if (action === "add" && name) {
    if (!isValidClientId(name)) {
      throw new UsageError(
        "USAGE_BAD_VALUE",
        `key name must be 1-64 letters, digits, '.', '_' or '-': ${JSON.stringify(name)}`,
      );
    }
    const key = await addKey(keysFile, name);
    const line = formatClientKey(key.name, key.key);
    const exitUrl = publicUrl ?? "wss://THIS-EXIT:8443";
    process.stdout.write(
      `Added key "${key.name}" to ${keysFile}. It is shown only this once:\n\n  ${line}\n\n` +
        "On the laptop, save it in a file only you can read, then start tether with it:\n\n" +
        `  (umask 077; echo '${line}' > ~/.tether-key)\n` +
        `  sudo ${laptopInvocation()} --exit ${exitUrl} --key-file ~/.tether-key\n` +
        (publicUrl
          ? ""
          : `\n(THIS-EXIT: this exit's public name; pass --public-url wss://NAME[:PORT] to print it here.)\n`),
    );
  } else if (action === "list" && !name) {
    const keys = await loadKeys(keysFile);
    if (!keys.length) process.stdout.write(`no keys in ${keysFile}\n`);
    for (const key of keys) process.stdout.write(`${key.name}\tcreated ${key.created}\n`);
  } else if (action === "revoke" && name) {
    if (!(await revokeKey(keysFile, name)))
      throw new UsageError("USAGE_BAD_VALUE", `no key named ${name} in ${keysFile}`);
    process.stdout.write(`revoked ${name}\n`);
  } else {
    throw new UsageError("USAGE_UNKNOWN_COMMAND", "keys wants: add NAME | list | revoke NAME");
  }
}

async function main(argv: string[]): Promise<number | undefined> {
  const { flags, help, version, positionals } = readArgv(EXIT_OPTIONS, argv);
  if (help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (version) {
    process.stdout.write(versionLine(EXIT_PROGRAM));
    return 0;
  }
  // defaults < environment < flags (the exit has no config file: its settings are its unit's or container's)
  const settings: ExitSettings = {
    ...defaultsOf(EXIT_OPTIONS),
    ...readEnv(EXIT_OPTIONS, process.env),
    ...flags,
  };
  const [command = "serve", ...rest] = positionals;
  if (command === "keys") {
    await keysCommand(rest, settings.keysFile ?? defaultKeysFile(), await keysPublicUrl(settings));
    return 0;
  }
  if (command !== "serve" || rest.length) {
    throw new UsageError(
      "USAGE_UNKNOWN_COMMAND",
      `unknown command ${[command, ...rest].join(" ")} (commands: serve, keys)`,
    );
  }
  const options = await exitOptions(settings);
  const advice = certificateAdvice({
    certPem: options.tls?.cert,
    host: options.host,
    port: options.port,
    publicUrl: settings.publicUrl,
  });
  if (advice?.code === "CERT_NAME_MISMATCH") throw new UsageError(advice.code, advice.message);
  if (advice) process.stderr.write(`${EXIT_PROGRAM}: warning: ${advice.message} [${advice.code}]\n`);
  const exit = await startExit(options);
  let finish: (code: number) => void = () => undefined;
  const finished = new Promise<number>((resolve) => {
    finish = resolve;
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`${EXIT_PROGRAM}: ${signal}, stopping\n`);
    exit.stop().then(
      () => finish(0),
      (error) => {
        process.stderr.write(`${EXIT_PROGRAM}: cleanup failed: ${error}\n`);
        finish(1);
      },
    );
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGHUP", () => {
    const { cert: certFile, tlsKey: keyFile } = settings;
    if (!certFile || !keyFile) {
      process.stderr.write(`${EXIT_PROGRAM}: SIGHUP: no --cert/--tls-key to reload (plain HTTP)\n`);
      return;
    }
    readTls({ certFile, keyFile }).then(
      (pair) => exit.reloadTls(pair),
      (error: Error) =>
        process.stderr.write(`${EXIT_PROGRAM}: SIGHUP: kept the current certificate: ${error.message}\n`),
    );
  });
  // Real bugs only (requests, connections and frames each have their own boundary): the stack, then
  // the same orderly stop as a signal (laptops told, NAT and TUN removed).
  const crashed = (what: string) => (reason: unknown) => {
    process.stderr.write(`${EXIT_PROGRAM}: ${what}: ${crashReport(reason)}\n`);
    stop(what);
  };
  process.on("uncaughtException", crashed("unexpected error"));
  process.on("unhandledRejection", crashed("unhandled rejection"));
  return finished;
}

runMain(EXIT_PROGRAM, () => main(process.argv.slice(2)));
