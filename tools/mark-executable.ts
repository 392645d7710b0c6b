// tsc drops the executable bit; npm links bins by path, and `node dist/...` works either way,
// but a user running the file directly needs it.
import { chmodSync } from "node:fs";

for (const bin of ["dist/node/laptop/cli.js", "dist/node/exit/cli.js"]) {
  chmodSync(bin, 0o755);
}
