/**
 * The web console at /console: one HTML page, one JS and one CSS bundle, all
 * served by keyward itself (no CDN), under a strict Content-Security-Policy.
 * The page talks to the documented admin API with the admin token the user
 * pastes; nothing here authenticates or holds state. The page and its
 * bundles are gzipped once, when first served, for clients that accept it:
 * the console's first load is about a third of its size compressed.
 */
import { gzipSync } from "node:zlib";
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
  return new Response(body, { status, headers: { ...CONSOLE_HEADERS, "content-type": type, vary: "accept-encoding" } });
}

/** Whether the request's Accept-Encoding takes gzip (and does not refuse it with q=0). */
function acceptsGzip(request: Request): boolean {
  const header = request.headers.get("accept-encoding") ?? "";
  return header.split(",").some((part) => {
    const [coding, ...params] = part.trim().toLowerCase().split(";");
    if (coding !== "gzip" && coding !== "*") return false;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

/** A text served as is, or gzipped (made on first use, then kept) for a client that accepts it. */
class Served {
  private gzipped: Uint8Array<ArrayBuffer> | undefined;
  constructor(
    private readonly text: string,
    private readonly type: string,
  ) {}
  respond(request: Request): Response {
    if (!acceptsGzip(request)) return answer(this.text, this.type);
    this.gzipped ??= new Uint8Array(gzipSync(this.text, { level: 9 }));
    return new Response(this.gzipped, {
      headers: { ...CONSOLE_HEADERS, "content-type": this.type, "content-encoding": "gzip", vary: "accept-encoding" },
    });
  }
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

interface ServedAssets {
  page: Served;
  js: Served;
  css: Served;
}

export function consoleRoutes(load: () => Promise<ConsoleAssets | null> = loadAssets) {
  let assets: Promise<ServedAssets | null> | undefined;
  const get = (): Promise<ServedAssets | null> => {
    assets ??= load().then(
      (a) =>
        a && {
          page: new Served(PAGE, "text/html; charset=utf-8"),
          js: new Served(a.js, "text/javascript; charset=utf-8"),
          css: new Served(a.css, "text/css; charset=utf-8"),
        },
      () => null,
    );
    return assets;
  };
  const html = async ({ request }: { request: Request }): Promise<Response> =>
    (await get())?.page.respond(request) ?? answer(UNBUILT, "text/html; charset=utf-8", 503);
  const asset =
    (pick: (a: ServedAssets) => Served) =>
    async ({ request }: { request: Request }): Promise<Response> => {
      const a = await get();
      return a ? pick(a).respond(request) : answer("console not built\n", "text/plain; charset=utf-8", 503);
    };
  const hidden = { detail: { hide: true } };
  return new Elysia({ name: "console" })
    .get("/console", html, hidden)
    .get("/console/", html, hidden)
    .get(
      "/console/assets/console.js",
      asset((a) => a.js),
      hidden,
    )
    .get(
      "/console/assets/console.css",
      asset((a) => a.css),
      hidden,
    );
}
