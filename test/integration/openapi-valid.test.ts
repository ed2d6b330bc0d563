/**
 * The OpenAPI document is valid OpenAPI 3.0 as a strict validator sees it,
 * so client generators and gateways accept it, not only Swagger UI.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import SwaggerParser from "@apidevtools/swagger-parser";
import { createTestApp, type TestApp } from "../helpers/app.ts";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.cleanup());

test("GET /docs/json passes the swagger-parser validator", async () => {
  const response = await t.app.handle(new Request("http://localhost/docs/json"));
  expect(response.status).toBe(200);
  const spec = await response.json();
  // validate() dereferences and checks against the OpenAPI 3.0 schema; it throws on any violation.
  const validated = await SwaggerParser.validate(structuredClone(spec));
  expect(Object.keys(validated.paths ?? {})).toContain("/api/proxy-keys");
});
