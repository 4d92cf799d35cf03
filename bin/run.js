#!/usr/bin/env node
// Production entry point: runs the compiled commands in dist/.
const major = Number(process.versions.node.split(".")[0]);
if (major < 22) {
  process.stderr.write(
    `aeg: needs Node.js 22 or newer (this is ${process.version}).\nRun it through scripts/with-node22.sh, or install Node 22 (npm i -g --prefix ~/.local/node22 node@22).\n`,
  );
  process.exit(2);
}
const { execute } = await import("@oclif/core");
await execute({ dir: import.meta.url });
