import { swagger } from "@elysiajs/swagger";

/** Where the plugin serves its document; `/docs/json` serves it after `tidySpec`. */
export const RAW_SPEC_PATH = "/docs/openapi-raw.json";

/**
 * The OpenAPI document at `/docs/json`, generated from the routes' `t.*`
 * models. The plugin's own UI page (CDN-based) is parked on a hidden path;
 * `/docs` is served offline by `swagger-ui.ts`.
 */
export function openApiSpec(version: string) {
  return swagger({
    provider: "swagger-ui",
    path: "/docs/cdn-ui",
    specPath: RAW_SPEC_PATH,
    excludeStaticFile: true,
    exclude: [/^\/docs/, /^\/v1/, /^\/metrics/],
    documentation: {
      info: {
        title: "keyward admin API",
        version,
        description:
          "Manage provider keys, proxy keys and admin tokens. Click **Authorize** and paste an admin token (`kwa_…`). Proxy keys (`kwp_…`) are for `/v1/*` only and are refused here.",
      },
      tags: [
        { name: "Provider keys", description: "Real provider API keys, encrypted at rest and never returned" },
        { name: "Proxy keys", description: "Keys handed to people and jobs instead of provider keys" },
        { name: "Teams", description: "Shared limits and budgets over groups of proxy keys (a department, an event)" },
        { name: "Admin tokens", description: "Tokens for this API, with scopes" },
        { name: "OIDC", description: "CI jobs exchange their OIDC ID token for a short-lived proxy key, under trust policies" },
        { name: "Audit", description: "Who changed what" },
        { name: "Stored objects", description: "Files, batches, stored responses and other provider objects, and the proxy key that created each" },
        { name: "Prices", description: "Model prices used to meter budgets" },
        { name: "Usage", description: "Usage summaries and the request log" },
        { name: "Webhooks", description: "Alerts posted to your endpoints: budget thresholds, expiring and revoked keys, provider keys refused upstream" },
        { name: "Operations", description: "Health and readiness probes" },
      ],
      components: {
        securitySchemes: {
          bearerAuth: { type: "http", scheme: "bearer", bearerFormat: "kwa_<id>_<secret><crc>" },
          oidcIdToken: {
            type: "http",
            scheme: "bearer",
            bearerFormat: "JWT",
            description: "A CI job's OIDC ID token (GitHub Actions, GitLab CI…), for POST /api/oidc/exchange only",
          },
        },
      },
    },
  });
}
