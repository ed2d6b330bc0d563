import { Elysia } from "elysia";
import { openApiSpec, RAW_SPEC_PATH } from "./openapi.ts";
import { swaggerUiRoutes } from "./swagger-ui.ts";
import { tidySpec } from "./tidy.ts";

/**
 * `/docs` (Swagger UI, offline) and `/docs/json` (the OpenAPI document).
 * `fetchRaw` asks the whole app for the plugin's document, which describes
 * every route of the app, not only this module's.
 */
export function docsRoutes(version: string, fetchRaw: (path: string) => Promise<Response>) {
  let cached: string | undefined;
  return new Elysia({ name: "admin.docs" })
    .use(openApiSpec(version))
    .use(swaggerUiRoutes("keyward admin API"))
    .get(
      "/docs/json",
      async () => {
        // Routes do not change after start, so the document is built once.
        cached ??= JSON.stringify(tidySpec((await (await fetchRaw(RAW_SPEC_PATH)).json()) as Record<string, unknown>));
        return new Response(cached, { headers: { "content-type": "application/json; charset=utf-8" } });
      },
      { detail: { hide: true } },
    );
}
