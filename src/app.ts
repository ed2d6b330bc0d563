import { Elysia, ValidationError } from "elysia";
import { adminErrorResponse, validationError } from "./admin/error-handler.ts";
import { ApiError } from "./admin/errors.ts";
import { adminTokenRoutes } from "./admin/admin-tokens/routes.ts";
import { auditRoutes } from "./admin/audit/routes.ts";
import { docsRoutes } from "./admin/docs/index.ts";
import { providerKeyRoutes } from "./admin/provider-keys/routes.ts";
import { proxyKeyRoutes } from "./admin/proxy-keys/routes.ts";
import { KeyCache } from "./proxy/key-cache.ts";
import { ProxyError } from "./proxy/errors.ts";
import { proxyRoutes } from "./proxy/routes.ts";
import { healthRoutes } from "./telemetry/health.ts";
import type { Clock } from "./clock.ts";
import type { Store } from "./db/store.ts";
import type { Logger } from "./telemetry/logger.ts";
import { AdminTokenService } from "./vault/admin-tokens.ts";
import { VaultEvents } from "./vault/events.ts";
import { ProviderKeyService } from "./vault/provider-keys.ts";
import { ProxyKeyService } from "./vault/proxy-keys.ts";
import type { Sealer } from "./vault/sealing.ts";
import { SecretVerifier } from "./vault/verifier.ts";

export interface AppConfig {
  allowHttpUpstreams: boolean;
  upstreamTimeoutMs: number;
  maxBodyBytes: number;
  version: string;
}

export interface AppDeps {
  store: Store;
  sealer: Sealer;
  clock: Clock;
  fetch: typeof fetch;
  config: AppConfig;
  logger: Logger;
  /** The runtime's client-disconnect signal; defaults to `request.signal` (reliable on Bun). */
  disconnectSignal?: (request: Request) => AbortSignal | undefined;
}

export function createServices(deps: AppDeps) {
  const events = new VaultEvents();
  const common = { store: deps.store, clock: deps.clock, events };
  const adminVerifier = new SecretVerifier({ clock: deps.clock, maxConcurrent: 2, maxFailures: 10, failureWindowMs: 60_000 });
  events.on((event) => {
    if (event.kind === "admin-token") adminVerifier.forget(event.id);
  });
  const providerKeys = new ProviderKeyService({ ...common, sealer: deps.sealer, allowHttpUpstreams: deps.config.allowHttpUpstreams });
  // Proxy keys: argon2 at most twice at once on 2 cores, and 5 unverified tries per id per minute.
  const proxyVerifier = new SecretVerifier({ clock: deps.clock, maxConcurrent: 2, maxFailures: 5, failureWindowMs: 60_000 });
  const keyCache = new KeyCache(deps.store, events, (row) => providerKeys.reveal(row), (id) => proxyVerifier.forget(id));
  return {
    events,
    adminVerifier,
    proxyVerifier,
    keyCache,
    providerKeys,
    proxyKeys: new ProxyKeyService(common),
    adminTokens: new AdminTokenService(common),
  };
}

export type Services = ReturnType<typeof createServices>;

export function createApp(deps: AppDeps) {
  const services = createServices(deps);
  const auth = { store: deps.store, clock: deps.clock, verifier: services.adminVerifier };
  const app = new Elysia({ normalize: false })
    .onError(({ code, error, path }) => {
      if (error instanceof ApiError) return error.toResponse();
      if (path.startsWith("/v1")) {
        if (error instanceof ProxyError) return error.toResponse();
        deps.logger.error("Unhandled proxy error", { code: String(code) });
        return new ProxyError(code === "NOT_FOUND" ? "not_found" : "internal_error", "Cannot forward request").toResponse();
      }
      if (error instanceof ValidationError) return adminErrorResponse(validationError(error));
      if (code === "PARSE") return adminErrorResponse({ code: "invalid_request", message: "Cannot parse request body: it is not valid JSON" });
      if (code === "NOT_FOUND") return adminErrorResponse({ code: "not_found", message: "Cannot find this route" });
      deps.logger.error("Unhandled error", { code: String(code), error: error instanceof Error ? error.message : String(error) });
      return adminErrorResponse({ code: "internal_error", message: "Internal error" });
    })
    .use(docsRoutes(deps.config.version))
    .use(healthRoutes(deps.store))
    .use(
      proxyRoutes({
        cache: services.keyCache,
        verifier: services.proxyVerifier,
        clock: deps.clock,
        fetch: deps.fetch,
        logger: deps.logger,
        upstreamTimeoutMs: deps.config.upstreamTimeoutMs,
        maxBodyBytes: deps.config.maxBodyBytes,
        disconnectSignal: deps.disconnectSignal ?? ((request) => request.signal),
      }),
    )
    .group("/api", { parse: "application/json" }, (api) =>
      api
        .use(providerKeyRoutes(auth, services.providerKeys))
        .use(proxyKeyRoutes(auth, services.proxyKeys))
        .use(adminTokenRoutes(auth, services.adminTokens))
        .use(auditRoutes(auth)),
    );
  return { app, services };
}
