/** README's configuration table is hand-written: it must list every serve option with its variable and default. */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { SERVE_OPTIONS } from "../../src/config.ts";

test("README's configuration table matches SERVE_OPTIONS", () => {
  const readme = readFileSync(join(import.meta.dir, "../../README.md"), "utf8");
  const rows = readme.split("\n").filter((l) => /^\| `--[a-z-]+` \|/.test(l));
  const flags = rows.map((r) => /^\| `--([a-z-]+)`/.exec(r)?.[1]);
  expect(flags).toEqual(SERVE_OPTIONS.map((s) => s.flag));
  for (const spec of SERVE_OPTIONS) {
    const row = rows.find((r) => r.startsWith(`| \`--${spec.flag}\` |`)) as string;
    const cells = row.split("|").map((c) => c.trim());
    expect(cells[2], spec.flag).toBe(`\`${spec.env}\``);
    const fallback = "default" in spec && spec.default !== undefined ? `\`${String(spec.default)}\`` : "";
    expect(cells[3], spec.flag).toBe(fallback);
  }
});
