#!/usr/bin/env node
// tether: the laptop side. Parses flags, calls startLaptop, shows the pairing link and status, and
// makes sure every exit path (stop, signal, crash, refusal) puts the system back.
import { crashReport } from "../cli/crash.js";
import { UsageError } from "../cli/errors.js";
import { helpText } from "../cli/help.js";
import { runMain } from "../cli/main.js";
import { readArgv, toggle } from "../cli/options.js";
import { EXIT_PROGRAM, LAPTOP_PROGRAM, versionLine } from "../cli/package.js";
import { ClientKeyError, parseClientKey } from "../protocol/client-key.js";
import {
  configFromEnv,
  defaultConfigDir,
  LAPTOP_DEFAULTS,
  LAPTOP_OPTIONS,
  readConfigFile,
  resolveConfig,
} from "./config.js";
import { checkConfigDir } from "./config-dir.js";
import { handOverProblem, prepareConfigDir, unreachableBy } from "./config-owner.js";
import { doctorFindings, type Finding, formatFindings, preflight } from "./doctor.js";
import { growHeapForForwarding } from "./heap-headroom.js";
import { argvKeyWarning, keySource, readKeyFile } from "./key-file.js";
import { type RunningLaptop, startLaptop } from "./laptop.js";
import { adoptLegacyConfig } from "./legacy-config.js";
import { pairingQr } from "./pairing.js";
import { type Account, accountToRunAs } from "./privilege-drop.js";
import { StatusLine } from "./status.js";
import { StatusFile, statusCommand } from "./status-file.js";

const HELP = helpText(LAPTOP_OPTIONS, {
  title: `${LAPTOP_PROGRAM}: get this laptop online through your phone's browser.`,
  usage: [
    `${LAPTOP_PROGRAM} --exit wss://HOST[:PORT] --key-file FILE [options]`,
    `${LAPTOP_PROGRAM} status [--json] [--config-dir DIR]`,
    `${LAPTOP_PROGRAM} doctor [options]      checks what this laptop needs, says what is missing`,
  ],
  about: `Runs until stopped (Ctrl-C). Needs root (or CAP_NET_ADMIN) for its TUN device, routes and DNS,
all of which are put back as they were when it stops, however it stops.

Root only to start: once its TUN is open, ${LAPTOP_PROGRAM} runs as the user who ran
sudo (SUDO_UID; \`nobody\` without sudo), with no groups and no capabilities. A small helper it
started first keeps uid 0 with CAP_NET_ADMIN alone (util-linux's setpriv), changes the TUN's
address, routes and DNS when the exit assigns them (each request checked), and puts them back
when ${LAPTOP_PROGRAM} ends, even when it is killed. The
config folder (by default that user's ~/.config/tether) becomes that user's.

Each option can also be set in the environment or in ~/.config/tether/config.json (under the
option's name: "exit", "port", "listen": [...], "tunName", "dns": false, "allowOrigins": [...]);
flags win over the environment, which wins over the file.`,
  notes: `\`${LAPTOP_PROGRAM} status\` prints once what the running ${LAPTOP_PROGRAM}'s status line shows (state, address, up and
down rate, round trip to the exit, data used), as text or --json; exit code 3 when none runs. It
reads status.json in the config folder, so run it as the same user (sudo ${LAPTOP_PROGRAM} status).`,
  examples: [
    `sudo npx ${LAPTOP_PROGRAM} --exit wss://exit.example.com --key-file ~/.tether-key`,
    `sudo TETHER_EXIT=wss://exit.example.com:8443 TETHER_KEY_FILE=/root/tether.key npx ${LAPTOP_PROGRAM} --port 9443`,
    "",
    "Then open the printed link on the phone (or scan the QR code), and keep that page open.",
    `(The key comes from \`${EXIT_PROGRAM} keys add NAME\` on the exit.)`,
  ],
});

const STATUS_OPTIONS = {
  json: toggle({ flag: "json", help: "print JSON" }),
  configDir: LAPTOP_OPTIONS.configDir,
};

/** Whom tether becomes once it gives root up: only when it runs as root. */
function runAsAccount(): Account | undefined {
  return process.geteuid?.() === 0 ? accountToRunAs(process.env) : undefined;
}

/** The config folder: the flag, else TETHER_CONFIG_DIR, else that account's ~/.config/tether (or, homeless, /var/lib's). */
function configDirOf(flag: string | undefined, runAs: Account | undefined): string {
  return flag ?? defaultConfigDir(process.env, runAs?.home, runAs !== undefined);
}

/** Refuses a config folder the account tether becomes could not reach; makes a missing one its. */
function prepareForAccount(configDir: string, runAs: Account | undefined): void {
  if (!runAs) return;
  const problem = unreachableBy(configDir, runAs);
  if (problem) {
    throw new UsageError(
      "CONFIG_DIR_UNREACHABLE",
      `${LAPTOP_PROGRAM} gives root up once started, and then ${problem}, where its config folder ${configDir} is: run it with sudo from your own account, or pass --config-dir a folder ${runAs.name} can reach`,
    );
  }
  const refusal = handOverProblem(configDir);
  if (refusal) throw new UsageError("CONFIG_DIR_UNSAFE", refusal);
  prepareConfigDir(configDir, runAs);
}

async function statusMain(argv: string[]): Promise<number> {
  const { flags, help, positionals } = readArgv(STATUS_OPTIONS, argv);
  if (help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length)
    throw new UsageError("USAGE_UNKNOWN_COMMAND", `status takes no arguments: ${positionals.join(" ")}`);
  return statusCommand(configDirOf(flags.configDir, runAsAccount()), flags.json ?? false, process.stdout);
}

/** A key that is not NAME:SECRET is a usage error, named after where it came from. */
function checkKey(key: string, where: string): void {
  try {
    parseClientKey(key);
  } catch (error) {
    if (error instanceof ClientKeyError) throw new UsageError(error.code, `${where}: ${error.message}`);
    throw error;
  }
}

/** `tether doctor`: every prerequisite, one line each; exit code 1 when one is missing. */
async function doctorMain(argv: string[]): Promise<number> {
  const { flags, help } = readArgv(LAPTOP_OPTIONS, argv);
  if (help) {
    process.stdout.write(HELP);
    return 0;
  }
  const env = configFromEnv(process.env);
  const runAs = runAsAccount();
  const configDir = configDirOf(flags.configDir ?? env.configDir, runAs);
  const file = await readConfigFile(configDir).catch(() => ({}));
  const settings = { ...LAPTOP_DEFAULTS, ...file, ...env, ...flags, configDir, runAs };
  const findings = await doctorFindings(settings);
  const source = keySource({ file, env, flags });
  if (source?.kind === "file") {
    findings.push(
      await readKeyFile(source.path).then(
        (): Finding => ({ name: "key file", detail: source.path }),
        (error: UsageError): Finding => ({
          name: "key file",
          problem: { code: error.code, fix: error.message },
        }),
      ),
    );
  } else if (source === undefined) {
    findings.push({
      name: "client key",
      problem: {
        code: "USAGE_MISSING",
        fix: `pass --key-file FILE with the key \`${EXIT_PROGRAM} keys add NAME\` printed`,
      },
    });
  }
  process.stdout.write(formatFindings(findings));
  return findings.some((f) => f.problem) ? 1 : 0;
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === "status") return statusMain(argv.slice(1));
  if (argv[0] === "doctor") return doctorMain(argv.slice(1));
  const { flags, help, version, positionals } = readArgv(LAPTOP_OPTIONS, argv);
  if (help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (version) {
    process.stdout.write(versionLine(LAPTOP_PROGRAM));
    return 0;
  }
  if (positionals.length) {
    throw new UsageError("USAGE_UNKNOWN_COMMAND", `unknown command ${positionals[0]} (commands: status)`);
  }
  const env = configFromEnv(process.env);
  const runAs = runAsAccount();
  const configDir = configDirOf(flags.configDir ?? env.configDir, runAs);
  if (runAs && flags.configDir === undefined && env.configDir === undefined) {
    const moved = adoptLegacyConfig(configDir, runAs);
    if (moved) process.stderr.write(`${LAPTOP_PROGRAM}: ${moved}\n`);
  }
  await checkConfigDir(configDir, process.geteuid?.() ?? -1, runAs?.uid);
  const file = await readConfigFile(configDir);
  const source = keySource({ file, env, flags });
  const warning = argvKeyWarning(source);
  if (warning) process.stderr.write(`${LAPTOP_PROGRAM}: ${warning}\n`);
  const key = source?.kind === "file" ? await readKeyFile(source.path) : source?.key;
  if (key !== undefined) checkKey(key, source?.kind === "file" ? source.path : "--key");
  const config = resolveConfig(configDir, file, env, { ...flags, ...(key === undefined ? {} : { key }) });
  await preflight({ listen: config.listen, port: config.port });
  prepareForAccount(config.configDir, runAs);

  let status: StatusLine | undefined;
  let statusFile: StatusFile | undefined;
  let finish: (code: number) => void = () => undefined;
  const finished = new Promise<number>((resolve) => {
    finish = resolve;
  });
  const say = (message: string) => (status ? status.print(message) : process.stderr.write(`${message}\n`));

  growHeapForForwarding(); // process-wide, so here in the entry point (laptop/heap-headroom.ts)
  const laptop: RunningLaptop = await startLaptop(
    config,
    {
      state: (state, detail) => {
        status?.state(state, detail);
        statusFile?.state(state, detail);
      },
      fatal: (error) => {
        say(`${LAPTOP_PROGRAM}: ${error.message} [${error.code}]`);
        finish(1);
      },
      refused: (remote, why) => say(`${LAPTOP_PROGRAM}: refused a connection from ${remote}: ${why}`),
      notice: (message) => say(`${LAPTOP_PROGRAM}: ${message}`),
    },
    runAs ? { runAs } : {},
  );
  // Last resort: whatever kills the event loop, routes and DNS go back.
  process.on("exit", () => laptop.restoreSync());
  process.on("SIGINT", () => finish(0));
  process.on("SIGTERM", () => finish(0));
  process.on("SIGHUP", () => finish(0));
  // Real bugs only (requests, connections and frames each have their own boundary): the stack,
  // then the same stop as a signal, routes and DNS put back.
  const crashed = (what: string) => (reason: unknown) => {
    say(`${LAPTOP_PROGRAM}: ${what}: ${crashReport(reason)}`);
    finish(1);
  };
  process.on("uncaughtException", crashed("unexpected error"));
  process.on("unhandledRejection", crashed("unhandled rejection"));

  if (runAs) {
    process.stdout.write(
      `${LAPTOP_PROGRAM}: gave up root: running as ${runAs.name} (uid ${runAs.uid}, gid ${runAs.gid}, no capabilities); ` +
        `routes and DNS through the privileged helper (pid ${laptop.helper?.pid}, ${laptop.helper?.confined ? "uid 0 with CAP_NET_ADMIN alone" : "root: no setpriv to confine it"})\n`,
    );
  }
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
  process.stdout.write(`${LAPTOP_PROGRAM}: stopped; routes and DNS are as they were\n`);
  return code;
}

runMain(LAPTOP_PROGRAM, () => main(process.argv.slice(2)));
