// Builds the dashboard into the Python package (src/energy_api/painel/static), committed so that
// `make run` needs no Node. `manifest.json` records a hash of every input: a test compares it
// with the sources, so a change that was not rebuilt fails the suite.
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "..", "src", "energy_api", "painel", "static");
mkdirSync(out, { recursive: true });

await build({
  entryPoints: [join(here, "src", "main.ts")],
  bundle: true,
  minify: true,
  format: "esm",
  target: ["es2022"],
  legalComments: "eof",
  outfile: join(out, "painel.js"),
  logLevel: "info",
});
const css = [
  readFileSync(join(here, "node_modules", "uplot", "dist", "uPlot.min.css"), "utf8"),
  readFileSync(join(here, "src", "painel.css"), "utf8"),
].join("\n");
writeFileSync(join(out, "painel.css"), css);
copyFileSync(join(here, "index.html"), join(out, "index.html"));
copyFileSync(join(here, "favicon.svg"), join(out, "favicon.svg"));

const inputs = ["index.html", "favicon.svg", "openapi.json", "package-lock.json", "build.mjs"]
  .concat(readdirSync(join(here, "src")).sort().map((name) => `src/${name}`));
const digest = createHash("sha256");
for (const name of inputs) {
  digest.update(name + "\0");
  digest.update(readFileSync(join(here, name)));
  digest.update("\0");
}
writeFileSync(
  join(out, "manifest.json"),
  JSON.stringify({ inputs, sha256: digest.digest("hex") }, null, 2) + "\n",
);
