/**
 * The layers of src/, read from its import graph: the domain (vault, limits, providers,
 * usage, changes, alerts) knows nothing of the two front ends (admin, proxy); db/ knows nothing
 * of the domain nor the front ends; runtime/ knows nothing of any of them, nor of
 * upstream/. So the domain can be tested and reused without an HTTP app, storage without
 * the domain, and each runtime adapter without the rest.
 */
import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "../helpers/binary.ts";
import { describeViolation, importGraph, importSpecifiers, layerViolations, relativeImports, type LayerRule } from "../helpers/import-graph.ts";

const DOMAIN = ["vault", "limits", "providers", "usage", "changes", "alerts"];
const FRONT_ENDS = ["admin", "proxy"];

const RULES: LayerRule[] = [
  ...DOMAIN.map((folder) => ({ folder, forbidden: FRONT_ENDS })),
  { folder: "db", forbidden: [...DOMAIN, ...FRONT_ENDS] },
  { folder: "runtime", forbidden: [...DOMAIN, ...FRONT_ENDS, "upstream"] },
];

const SRC = join(REPO_ROOT, "src");

describe("the checker", () => {
  test("reads every form of import and re-export, over several lines, and skips comments", () => {
    const source = [
      `import a from "./a.ts";`,
      `import type { B } from "../b.ts";`,
      `import * as c from "./c.ts";`,
      `import d, { e as f, type G } from "./d.ts";`,
      `import {`,
      `  h,`,
      `  type I,`,
      `} from "./h.ts";`,
      `import "./side-effect.ts";`,
      `import css from "./x.css" with { type: "text" };`,
      `export { j } from "./j.ts";`,
      `export * from "./k.ts";`,
      `export type { L } from "./l.ts";`,
      `export const NOT_AN_IMPORT = "./m.ts";`,
      `const lazy = await import("./n.ts");`,
      `// import { old } from "./commented.ts";`,
      `/**`,
      ` * import { doc } from "./in-jsdoc.ts";`,
      ` */`,
      `app.all("/v1/*", handler); const later = () => import("./o.ts");`,
      `import { readFileSync } from "node:fs";`,
    ].join("\n");
    expect(importSpecifiers(source).toSorted()).toEqual(
      [
        "./a.ts",
        "../b.ts",
        "./c.ts",
        "./d.ts",
        "./h.ts",
        "./side-effect.ts",
        "./x.css",
        "./j.ts",
        "./k.ts",
        "./l.ts",
        "./n.ts",
        "./o.ts",
        "node:fs",
      ].toSorted(),
    );
  });

  test("resolves relative imports against the importing file; package imports are not edges", () => {
    const edges = relativeImports(
      "/repo/src",
      "/repo/src/limits/gate.ts",
      `import { x } from "../proxy/errors.ts";\nimport { y } from "./budget.ts";\nimport z from "elysia";`,
    );
    expect(edges).toEqual([
      { from: "limits/gate.ts", spec: "../proxy/errors.ts", to: "proxy/errors.ts" },
      { from: "limits/gate.ts", spec: "./budget.ts", to: "limits/budget.ts" },
    ]);
  });

  test("reports a forbidden edge, naming the file and the import", () => {
    const edges = [
      { from: "limits/gate.ts", spec: "../proxy/errors.ts", to: "proxy/errors.ts" },
      { from: "proxy/handler.ts", spec: "../limits/gate.ts", to: "limits/gate.ts" },
      { from: "db/store.ts", spec: "../errors.ts", to: "errors.ts" },
      { from: "db/store.ts", spec: "../vault/keyring.ts", to: "vault/keyring.ts" },
      { from: "runtime/bun.ts", spec: "../upstream/client.ts", to: "upstream/client.ts" },
      { from: "runtime/bun.ts", spec: "./types.ts", to: "runtime/types.ts" },
      { from: "app.ts", spec: "./proxy/routes.ts", to: "proxy/routes.ts" },
    ];
    expect(layerViolations(edges, RULES).map((v) => describeViolation(v, "src/"))).toEqual([
      'src/limits/gate.ts imports "../proxy/errors.ts": limits must not import proxy',
      'src/db/store.ts imports "../vault/keyring.ts": db must not import vault',
      'src/runtime/bun.ts imports "../upstream/client.ts": runtime must not import upstream',
    ]);
  });

  test("finds a forbidden import written into a copy of a source tree", () => {
    const root = mkdtempSync(join(tmpdir(), "keyward-layers-"));
    try {
      mkdirSync(join(root, "limits"));
      mkdirSync(join(root, "proxy"));
      writeFileSync(join(root, "proxy", "errors.ts"), "export const x = 1;\n");
      writeFileSync(join(root, "limits", "gate.ts"), 'import { x } from "../proxy/errors.ts";\nexport const y = x;\n');
      const found = layerViolations(importGraph(root), RULES).map((v) => describeViolation(v));
      expect(found).toEqual(['limits/gate.ts imports "../proxy/errors.ts": limits must not import proxy']);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("src/", () => {
  const edges = importGraph(SRC);

  test("the graph is read: every folder a rule names has files that import something", () => {
    for (const folder of [...DOMAIN, ...FRONT_ENDS, "db", "runtime", "upstream"]) {
      expect({ folder, imports: edges.filter((e) => e.from.startsWith(`${folder}/`)).length > 0 }).toEqual({ folder, imports: true });
    }
  });

  test("no layer imports one it must not", () => {
    expect(layerViolations(edges, RULES).map((v) => describeViolation(v, "src/"))).toEqual([]);
  });
});
