// `npm run demo`: the whole Tether on this machine. Four network namespaces (laptop, phone, exit,
// internet), the real exit and `tether` CLI, the built PWA in headless Chromium as the phone; then
// a curl from the laptop through it all. Everything is removed when it ends, or on Ctrl-C.
//   npm run demo            bring it up, show a transfer, tear down
//   npm run demo -- --hold  keep it up until Ctrl-C (try: ip netns exec <laptop ns> curl ...)
import { startExit, startLaptop, startPhone } from "./chain.js";
import { startInternet } from "./internet.js";
import { createTopology } from "./topology.js";

const hold = process.argv.includes("--hold");
const step = (message: string) => process.stdout.write(`\n== ${message}\n`);

async function main(): Promise<void> {
  if (process.getuid?.() !== 0)
    throw new Error("the demo creates network namespaces: run it as root (sudo npm run demo)");
  step("creating namespaces laptop, phone, exit, internet");
  const topology = await createTopology({ tag: "demo" });
  try {
    const { ns, addr } = topology;
    process.stdout.write(
      `laptop ${ns.laptop} ${addr.hotspot.laptop} -> phone ${ns.phone} (hotspot ${addr.hotspot.phone}, carrier ${addr.carrier.phone})\n` +
        `  -> exit ${ns.exit} ${addr.carrier.exit} / ${addr.egress.exit} -> internet ${ns.internet} ${addr.egress.internet}\n`,
    );
    step("without Tether the laptop cannot reach the internet (the phone does not forward)");
    const before = await topology.exec("laptop", [
      "curl",
      "-sS",
      "--max-time",
      "2",
      `http://${addr.egress.internet}/hello`,
    ]);
    process.stdout.write(
      `curl: ${before.code === 0 ? before.stdout : before.stderr.trim() || `exit ${before.code}`}\n`,
    );

    step("starting the internet (HTTP, DNS) and the exit");
    await startInternet(topology, { iperf3: false });
    const exit = await startExit(topology);
    const key = await exit.addKey("demo-laptop");
    process.stdout.write(`exit serving ${exit.origin}; client key created for demo-laptop\n`);

    step("starting `tether` on the laptop");
    const laptop = await startLaptop(topology, exit, key);
    process.stdout.write(`pairing link: ${laptop.link}\n`);

    step("opening the link in the phone's headless Chromium");
    const phone = await startPhone(topology, exit, laptop);
    const page = await phone.open(laptop.link);
    process.stdout.write(`phone says: ${await page.textContent("#message")}\n`);

    step("the laptop's traffic now goes through the phone");
    const hello = await topology.exec("laptop", [
      "curl",
      "-sS",
      "--max-time",
      "10",
      "http://internet.test/hello",
    ]);
    process.stdout.write(
      `curl http://internet.test/hello -> ${hello.stdout.trim() || hello.stderr.trim()}\n`,
    );
    const bulk = await topology.exec("laptop", [
      "curl",
      "-sS",
      "--max-time",
      "60",
      "-o",
      "/dev/null",
      "-w",
      "%{size_download} bytes at %{speed_download} B/s\n",
      `http://${addr.egress.internet}/bytes/${20 * 1024 * 1024}?seed=demo`,
    ]);
    process.stdout.write(`curl 20 MiB -> ${bulk.stdout.trim() || bulk.stderr.trim()}\n`);
    process.stdout.write(
      `phone shows: up ${await page.textContent("#bytes-up")}, down ${await page.textContent("#bytes-down")}\n`,
    );

    if (hold) {
      step(`holding; try: sudo ip netns exec ${ns.laptop} curl http://internet.test/hello  (Ctrl-C ends)`);
      await new Promise<void>((resolve) => process.once("SIGINT", () => resolve()));
    }
    step("stopping; the laptop puts routes and DNS back");
    laptop.process.kill("SIGINT");
  } finally {
    await topology.destroy();
    process.stdout.write("namespaces removed\n");
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
