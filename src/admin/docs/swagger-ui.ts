/**
 * Swagger UI served from inside keyward (and so from inside the compiled
 * binary): `@elysiajs/swagger` would load it from a CDN, which an offline VM
 * cannot reach. Its files (swagger-ui-assets.ts) are loaded by the first
 * request for them, as the console's are.
 */
import { Elysia } from "elysia";

const assets = () => import("./swagger-ui-assets.ts");

function page(specUrl: string, title: string): string {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8" />
  <meta name="viewport" content="width=device-width, initial-scale=1" />
  <title>${title}</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css" />
  <style>body { margin: 0 } .swagger-ui .topbar { display: none }</style>
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/assets/init.js"></script>
</body>
</html>`;
}

function init(specUrl: string): string {
  return `window.ui = SwaggerUIBundle({
  url: ${JSON.stringify(specUrl)},
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: true,
  tryItOutEnabled: true,
  displayRequestDuration: true,
  validatorUrl: null
});
`;
}

const cached = (body: string, type: string) => new Response(body, { headers: { "content-type": type, "cache-control": "public, max-age=3600" } });

export function swaggerUiRoutes(title: string) {
  const html = page("/docs/json", title);
  const script = init("/docs/json");
  return new Elysia({ name: "admin.docs.ui" })
    .get("/docs", () => new Response(html, { headers: { "content-type": "text/html; charset=utf-8" } }), {
      detail: { hide: true },
    })
    .get("/docs/assets/swagger-ui.css", async () => cached((await assets()).CSS, "text/css; charset=utf-8"), { detail: { hide: true } })
    .get("/docs/assets/swagger-ui-bundle.js", async () => cached((await assets()).BUNDLE, "text/javascript; charset=utf-8"), {
      detail: { hide: true },
    })
    .get("/docs/assets/init.js", () => cached(script, "text/javascript; charset=utf-8"), { detail: { hide: true } });
}
