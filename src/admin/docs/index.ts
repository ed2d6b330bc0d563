import { Elysia } from "elysia";
import { openApiSpec } from "./openapi.ts";
import { swaggerUiRoutes } from "./swagger-ui.ts";

export function docsRoutes(version: string) {
  return new Elysia({ name: "admin.docs" }).use(openApiSpec(version)).use(swaggerUiRoutes("keyward admin API"));
}
