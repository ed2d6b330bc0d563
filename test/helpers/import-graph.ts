/**
 * The relative-import graph of a source tree, read from the text of its files, and
 * the layer rules it must keep: which top-level folder may not import which.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";

/** One relative import: `from` imports `to` (both relative to the tree's root), written `spec`. */
export interface ImportEdge {
  from: string;
  to: string;
  spec: string;
}

/** Files in `folder` (a top-level folder of the tree) may not import anything in `forbidden`. */
export interface LayerRule {
  folder: string;
  forbidden: readonly string[];
}

export interface LayerViolation extends ImportEdge {
  rule: LayerRule;
}

// `import x from "…"`, `import type { X } from "…"`, `import * as x from "…"`, `import "…"`,
// `export { x } from "…"`, `export * from "…"`, `export type { X } from "…"`, over any number of lines.
const STATIC_IMPORT = /(?:^|[\s;}])(?:import|export)\s+(?:type\s+)?(?:[\w$*{}\s,]+?\s+from\s*)?["']([^"']+)["']/g;
// `import("…")` and `await import("…")`.
const DYNAMIC_IMPORT = /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g;

/**
 * Comments that start a line removed (`// …` lines and `/* … *\/` blocks such as JSDoc), so
 * an import quoted in one is not read as an import. A comment after code stays: telling
 * it apart from `//` or `/*` inside a string (`"/v1/*"`) would take a real tokenizer.
 */
function withoutComments(source: string): string {
  return source.replace(/^[ \t]*\/\*[\s\S]*?\*\//gm, "").replace(/^[ \t]*\/\/.*$/gm, "");
}

/** Every module specifier `source` imports or re-exports, in order of appearance per form. */
export function importSpecifiers(source: string): string[] {
  const code = withoutComments(source);
  const found: string[] = [];
  for (const pattern of [STATIC_IMPORT, DYNAMIC_IMPORT]) {
    for (const match of code.matchAll(pattern)) found.push(match[1] as string);
  }
  return found;
}

/** The relative imports of one file, as paths relative to `root` (`/`-separated). */
export function relativeImports(root: string, file: string, source: string): ImportEdge[] {
  const from = relative(root, file).split(sep).join("/");
  return importSpecifiers(source)
    .filter((spec) => spec.startsWith("./") || spec.startsWith("../"))
    .map((spec) => ({
      from,
      spec,
      to: relative(root, resolve(dirname(file), spec))
        .split(sep)
        .join("/"),
    }));
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.[cm]?[jt]sx?$/.test(entry.name) && !entry.name.endsWith(".d.ts") ? [path] : [];
  });
}

/** Every relative import of every source file under `root`. */
export function importGraph(root: string): ImportEdge[] {
  return sourceFiles(root).flatMap((file) => relativeImports(root, file, readFileSync(file, "utf8")));
}

/** The top-level folder a tree-relative path lies in; undefined for files at the top or outside the tree. */
export function topFolder(path: string): string | undefined {
  const parts = path.split("/");
  return parts.length > 1 && parts[0] !== ".." ? parts[0] : undefined;
}

/** The edges that break a rule. */
export function layerViolations(edges: readonly ImportEdge[], rules: readonly LayerRule[]): LayerViolation[] {
  return edges.flatMap((edge) => {
    const from = topFolder(edge.from);
    const to = topFolder(edge.to);
    if (from === undefined || to === undefined || from === to) return [];
    return rules.filter((rule) => rule.folder === from && rule.forbidden.includes(to)).map((rule) => ({ ...edge, rule }));
  });
}

/** `src/limits/gate.ts imports "../proxy/errors.ts": limits must not import proxy`. */
export function describeViolation(v: LayerViolation, prefix = ""): string {
  return `${prefix}${v.from} imports "${v.spec}": ${v.rule.folder} must not import ${topFolder(v.to)}`;
}
