// The documentation: a README of at most 200 lines for a newcomer, the rest in docs/.
// Every relative link between them must resolve, heading anchors included (GitHub's slugs); every
// config key the program accepts must be documented in docs/configuration.md; each mechanism page
// has the same headings; user documentation uses no internal vocabulary.
import { expect } from "chai";
import { existsSync, readFileSync, readdirSync, statSync } from "fs";
import { dirname, join, relative, resolve } from "path";
import * as config from "../components/config";
import { CONFIG_KEYS, RawConfig, parseConfig } from "../components/config";
import { MECHANISMS } from "../functions/contract";
import { ConfigError } from "../components/shared/configError";

const ROOT = resolve(__dirname, "..");
const README = join(ROOT, "README.md");
const DOCS = join(ROOT, "docs");
const MECHANISM_HEADINGS = [
  "Overview",
  "Config keys",
  "Resources and defaults",
  "How approvers decide",
  "Diagram",
  "What it fixes over the public examples",
];

function markdownFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? markdownFiles(path) : name.endsWith(".md") ? [path] : [];
  });
}

const FILES = [README, ...markdownFiles(DOCS)];
const read = (path: string) => readFileSync(path, "utf8");
const show = (path: string) => relative(ROOT, path);

/** The text outside fenced code blocks, line by line (code is not markdown: no links, no headings). */
function proseLines(text: string): string[] {
  let fenced = false;
  return text.split("\n").map((line) => {
    if (/^\s*```/.test(line)) {
      fenced = !fenced;
      return "";
    }
    return fenced ? "" : line;
  });
}

/** GitHub's anchor for a heading: rendered text, lowercase, punctuation other than '-' and '_' dropped, spaces to '-'. */
export function githubSlug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/<[^>]+>/g, "")
    .replace(/`/g, "");
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
    .replace(/ /g, "-");
}

/** Every anchor a file's headings get on GitHub (a repeated slug gets -1, -2, ...). */
function anchorsOf(path: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const line of proseLines(read(path))) {
    const match = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!match) continue;
    const slug = githubSlug(match[1]);
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

/** The targets of a file's inline links and images, outside code. */
function linksOf(path: string): string[] {
  return proseLines(read(path)).flatMap((line) => {
    const text = line.replace(/`[^`]*`/g, "code");
    return [...text.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]);
  });
}

/** The keys a ConfigError lists as allowed ("... is not a known key: allowed are a, b, c"). */
function allowedKeys(raw: RawConfig, unknownKeyAt: string): string[] {
  try {
    parseConfig(raw);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const problem = error.problems.find((p) => p.includes(`${unknownKeyAt} is not a known key`));
    const match = problem === undefined ? null : /allowed are (.+)$/.exec(problem);
    if (match) return match[1].split(", ");
  }
  throw new Error(`parseConfig did not refuse the unknown key ${unknownKeyAt} with the list of allowed keys`);
}

describe("documentation (README.md and docs/)", () => {
  it("the README has at most 200 lines and one Mermaid diagram", () => {
    const text = read(README);
    const lines = text.endsWith("\n") ? text.split("\n").length - 1 : text.split("\n").length;
    expect(lines, "README.md lines").to.be.at.most(200);
    expect(text.match(/^```mermaid$/gm) ?? [], "Mermaid diagrams in README.md").to.have.length(1);
  });

  it("the heading slugs follow GitHub's rules", () => {
    expect(githubSlug("Request fields and AWS limits: one rule")).to.equal("request-fields-and-aws-limits-one-rule");
    expect(githubSlug("The page's resources")).to.equal("the-pages-resources");
    expect(githubSlug("`ssm-automation` or `codepipeline`?")).to.equal("ssm-automation-or-codepipeline");
    expect(githubSlug("What it does not protect against, and what to do")).to.equal(
      "what-it-does-not-protect-against-and-what-to-do",
    );
    expect(githubSlug("auto_approved [the link](x.md)")).to.equal("auto_approved-the-link");
  });

  it("every relative link in README.md and docs/ points to an existing file and heading", () => {
    const broken: string[] = [];
    let checked = 0;
    for (const file of FILES) {
      for (const target of linksOf(file)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
        checked++;
        const [pathPart, anchor] = target.split("#", 2);
        const path = pathPart === "" ? file : resolve(dirname(file), decodeURIComponent(pathPart));
        if (!existsSync(path)) {
          broken.push(`${show(file)}: ${target} (no file ${show(path)})`);
        } else if (anchor !== undefined && !anchorsOf(path).has(anchor)) {
          broken.push(`${show(file)}: ${target} (no heading #${anchor} in ${show(path)})`);
        }
      }
    }
    expect(broken).to.deep.equal([]);
    expect(checked, "relative links checked").to.be.above(50);
  });

  it("every import in a code example and every source path in the text names a file that exists", () => {
    const missing: string[] = [];
    for (const file of FILES) {
      const text = read(file);
      for (const match of text.matchAll(/from "\.\/((?:components|functions|scripts)\/[^"]+)"/g)) {
        if (![".ts", "/index.ts"].some((end) => existsSync(join(ROOT, `${match[1]}${end}`))))
          missing.push(`${show(file)}: import ${match[1]}`);
      }
      for (const match of text.matchAll(/\b((?:components|functions|scripts|tests)\/[\w./-]+\.(?:ts|js|json))\b/g)) {
        if (!existsSync(join(ROOT, match[1]))) missing.push(`${show(file)}: ${match[1]}`);
      }
    }
    expect(missing).to.deep.equal([]);
  });

  it("README.md links to every page of docs/", () => {
    const linked = new Set(linksOf(README).map((target) => resolve(ROOT, target.split("#")[0])));
    const pages = markdownFiles(DOCS)
      .filter((page) => !linked.has(page))
      .map(show);
    expect(pages, "docs pages the README does not link").to.deep.equal([]);
  });

  it("documents every config key in docs/configuration.md", () => {
    const page = read(join(DOCS, "configuration.md"));
    // STAGE_KEYS is not exported by components/config.ts; its list is read from the error that
    // names the allowed keys, as a user sees it (and compared with the export, should it appear).
    const exported = (config as unknown as Record<string, unknown>).STAGE_KEYS as Iterable<string> | undefined;
    const stageKeys = allowedKeys({ stages: [{ notAStageKey: 1 }] }, "stages[0].notAStageKey");
    if (exported !== undefined) expect([...exported]).to.have.members(stageKeys);
    const identityCenterKeys = allowedKeys({ identityCenter: { notAKey: 1 } }, "identityCenter.notAKey");
    expect(CONFIG_KEYS.length).to.be.above(5);
    expect(stageKeys).to.include.members(["name", "mechanism", "approvers", "timeout", "permissionSets"]);
    expect(identityCenterKeys).to.include("instanceArn");

    const missing = [
      ...CONFIG_KEYS.map((key) => `\`sfn-approvals:${key}\``),
      ...stageKeys.map((key) => `\`stages[].${key}\``),
      ...identityCenterKeys.map((key) => `\`sfn-approvals:identityCenter.${key}\``),
    ].filter((key) => !page.includes(key));
    expect(missing, "config keys missing from docs/configuration.md").to.deep.equal([]);
  });

  it("has one page per mechanism, all with the same headings", () => {
    for (const mechanism of MECHANISMS) {
      const path = join(DOCS, "mechanisms", `${mechanism}.md`);
      expect(existsSync(path), show(path)).to.equal(true);
      const headings = proseLines(read(path))
        .map((line) => /^## (.*)$/.exec(line)?.[1])
        .filter((h): h is string => h !== undefined);
      expect(headings, show(path)).to.deep.equal(MECHANISM_HEADINGS);
    }
  });

  it("uses no internal vocabulary ('seed')", () => {
    const found = FILES.flatMap((file) =>
      read(file)
        .split("\n")
        .map((line, i) => (/\bseeds?\b/i.test(line) ? `${show(file)}:${i + 1}: ${line.trim()}` : undefined))
        .filter((hit): hit is string => hit !== undefined),
    );
    expect(found).to.deep.equal([]);
  });
});
