/**
 * The web console at /console: one HTML page, one JS and one CSS bundle, all
 * served by keyward itself (no CDN), under a strict Content-Security-Policy.
 * The page talks to the documented admin API with the admin token the user
 * pastes; nothing here authenticates or holds state.
 */
import { Elysia } from "elysia";

export interface ConsoleAssets {
  js: string;
  css: string;
}

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join("; ");

/** On every console response. */
export const CONSOLE_HEADERS: Record<string, string> = {
  "content-security-policy": CSP,
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache",
};

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8" />
  <meta name="viewport" content="width=device-width, initial-scale=1" />
  <title>keyward console</title>
  <link rel="stylesheet" href="/console/assets/console.css" />
  <script type="module" src="/console/assets/console.js"></script>
</head>
<body>
  <div id="app"><noscript>The keyward console needs JavaScript.</noscript></div>
</body>
</html>
`;

const UNBUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8" /><title>keyward console: not built</title></head>
<body><h1>The console is not built</h1>
<p>This keyward runs from source without the console bundle. Run <code>bun src/console/build.ts</code> (or <code>bun run build</code>) in the repository, then restart.
The admin API at <a href="/docs">/docs</a> works without it.</p></body></html>
`;

function answer(body: string, type: string, status = 200): Response {
  return new Response(body, { status, headers: { ...CONSOLE_HEADERS, "content-type": type } });
}

/**
 * The bundle: embedded (compiled binary) or dist/ (from source, once built);
 * else, on Bun, bundled now from the page's sources; on Deno, none (503).
 */
async function loadAssets(): Promise<ConsoleAssets | null> {
  try {
    const built = await import("./embedded.ts");
    return built.bundle;
  } catch {
    if (typeof Bun === "undefined") return null;
    const { bundleConsole } = await import("./build.ts");
    return bundleConsole();
  }
}

export function consoleRoutes(load: () => Promise<ConsoleAssets | null> = loadAssets) {
  let assets: Promise<ConsoleAssets | null> | undefined;
  const get = (): Promise<ConsoleAssets | null> => {
    assets ??= load().catch(() => null);
    return assets;
  };
  const html = async (): Promise<Response> => ((await get()) ? answer(PAGE, "text/html; charset=utf-8") : answer(UNBUILT, "text/html; charset=utf-8", 503));
  const asset = (pick: (a: ConsoleAssets) => string, type: string) => async (): Promise<Response> => {
    const a = await get();
    return a ? answer(pick(a), type) : answer("console not built\n", "text/plain; charset=utf-8", 503);
  };
  const hidden = { detail: { hide: true } };
  return new Elysia({ name: "console" })
    .get("/console", html, hidden)
    .get("/console/", html, hidden)
    .get(
      "/console/assets/console.js",
      asset((a) => a.js, "text/javascript; charset=utf-8"),
      hidden,
    )
    .get(
      "/console/assets/console.css",
      asset((a) => a.css, "text/css; charset=utf-8"),
      hidden,
    );
}
