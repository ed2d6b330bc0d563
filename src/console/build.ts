/**
 * Bundles the console page (src/console/page/) into one JS and one CSS file.
 * `bun run build` runs this file before `bun build --compile`, which then
 * embeds src/console/dist/ into the binary (see embedded.ts); from source on
 * Bun, routes.ts calls `bundleConsole()` on the first request when dist/ is
 * missing. Deno cannot run Bun.build: it serves dist/ when built, else a 503.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const HERE = import.meta.dir;
export const DIST = join(HERE, "dist");

export interface ConsoleBundle {
  js: string;
  css: string;
}

export async function bundleConsole(): Promise<ConsoleBundle> {
  const result = await Bun.build({
    entrypoints: [join(HERE, "page", "main.ts")],
    target: "browser",
    format: "esm",
    minify: true,
    sourcemap: "none",
    define: { "process.env.NODE_ENV": '"production"' },
  });
  if (!result.success) throw new Error(`Cannot bundle the console: ${result.logs.map((l) => l.message).join("; ")}`);
  const [output] = result.outputs;
  if (!output) throw new Error("Cannot bundle the console: Bun.build produced nothing");
  const uplotCss = readFileSync(join(HERE, "../../node_modules/uplot/dist/uPlot.min.css"), "utf8");
  const css = `${uplotCss}\n${readFileSync(join(HERE, "page", "style.css"), "utf8")}`;
  return { js: await output.text(), css };
}

if (import.meta.main) {
  const bundle = await bundleConsole();
  mkdirSync(DIST, { recursive: true });
  writeFileSync(join(DIST, "console.js"), bundle.js);
  writeFileSync(join(DIST, "console.css"), bundle.css);
  const gz = (s: string) => Bun.gzipSync(new TextEncoder().encode(s)).length;
  console.log(`console: js ${bundle.js.length} B (gzip ${gz(bundle.js)}), css ${bundle.css.length} B (gzip ${gz(bundle.css)})`);
}
