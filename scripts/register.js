// Lets plain `node` load the project's TypeScript (the CLIs, the tests): each .ts file is
// transpiled once with TypeScript's transpileModule and kept under node_modules/.cache, keyed by
// its content, so a later start loads no compiler (ts-node loads it on every start: ~1.5 s).
// Type checking is tsc's job (npm test runs it). Usage: node -r ./scripts/register.js file.ts,
// or node scripts/run.js file.ts.
"use strict";
const { createHash } = require("crypto");
const { mkdirSync, readFileSync, renameSync, writeFileSync } = require("fs");
const { enableCompileCache } = require("module");
const { join } = require("path");

const ROOT = join(__dirname, "..");
const CACHE = process.env.SFN_APPROVALS_TS_CACHE || join(ROOT, "node_modules", ".cache", "sfn-approvals", "ts");
/** Node's compile cache: V8's code for the modules loaded (Pulumi, the AWS SDK), kept between starts. */
const V8_CACHE = join(ROOT, "node_modules", ".cache", "sfn-approvals", "v8");
enableCompileCache?.(V8_CACHE);
// What else decides the output: the compiler's version and these options.
const TS_VERSION = JSON.parse(readFileSync(require.resolve("typescript/package.json"), "utf8")).version;
const OPTIONS = {
  module: "commonjs",
  target: "es2022",
  esModuleInterop: true,
  inlineSourceMap: true,
  inlineSources: false,
};
const SALT = `${TS_VERSION} ${JSON.stringify(OPTIONS)}`;

let ts;
let compilerOptions;
function transpile(source, filename) {
  if (!ts) {
    ts = require("typescript");
    compilerOptions = ts.convertCompilerOptionsFromJson(OPTIONS, ROOT).options;
  }
  return ts.transpileModule(source, { fileName: filename, compilerOptions, reportDiagnostics: false }).outputText;
}

function compiled(filename) {
  const source = readFileSync(filename, "utf8");
  const key = createHash("sha256").update(SALT).update("\0").update(filename).update("\0").update(source).digest("hex");
  const cached = join(CACHE, key.slice(0, 2), `${key.slice(2)}.js`);
  try {
    return readFileSync(cached, "utf8");
  } catch {
    const output = transpile(source, filename);
    try {
      // Written whole, then renamed: a second process (mocha's workers, a second npm test) never
      // reads half a file.
      mkdirSync(join(CACHE, key.slice(0, 2)), { recursive: true });
      const temporary = `${cached}.${process.pid}.tmp`;
      writeFileSync(temporary, output);
      renameSync(temporary, cached);
    } catch {
      // A read-only tree: run without the cache.
    }
    return output;
  }
}

require.extensions[".ts"] = function loadTypeScript(module, filename) {
  module._compile(compiled(filename), filename);
};
