/**
 * Access lines for requests refused at authentication are capped per second;
 * the rest are counted in one warn line per window. Everything else passes.
 */
import { expect, test } from "bun:test";
import type { AccessEntry } from "../../src/telemetry/access-log.ts";
import type { Logger } from "../../src/telemetry/logger.ts";
import { RefusalLines } from "../../src/telemetry/refusal-lines.ts";

function setup(windowMs = 1_000) {
  const lines: AccessEntry[] = [];
  const warnings: Array<Record<string, unknown>> = [];
  const logger: Logger = { debug() {}, info() {}, error() {}, warn: (msg, fields) => warnings.push({ msg, ...fields }) };
  const clock = { now: 0 };
  const refusals = new RefusalLines((e) => lines.push(e), logger, { perSecond: 3, windowMs, now: () => clock.now });
  return { lines, warnings, clock, refusals };
}

const entry = (status: number, keyId?: string, n = 0): AccessEntry => ({
  requestId: `r-${status}-${keyId ?? "none"}-${n}`,
  method: "POST",
  path: "/v1/chat/completions",
  status,
  latencyMs: 1,
  keyId,
});

test("refusals beyond the limit are counted, not written, and reported in one warn line", () => {
  const { lines, warnings, refusals } = setup();
  for (let i = 0; i < 10; i++) refusals.log(entry(401, undefined, i));
  expect(lines.map((l) => l.requestId)).toEqual(["r-401-none-0", "r-401-none-1", "r-401-none-2"]);
  expect(warnings).toEqual([]);
  refusals.report();
  expect(warnings).toEqual([{ msg: "Refused requests beyond the access-line limit", refused: 7, limit_per_second: 3 }]);
  refusals.report();
  expect(warnings).toHaveLength(1);
});

test("every other line passes, also while refusals are being counted", () => {
  const { lines, refusals } = setup();
  for (let i = 0; i < 5; i++) refusals.log(entry(401, undefined, i));
  refusals.log(entry(200, "KEYID0000001"));
  refusals.log(entry(401, "ADMINID00001")); // refused after authenticating (e.g. a scope), named: kept
  refusals.log(entry(429));
  refusals.log(entry(403));
  expect(lines.map((l) => `${l.status} ${l.keyId ?? "-"}`)).toEqual(["401 -", "401 -", "401 -", "200 KEYID0000001", "401 ADMINID00001", "429 -", "403 -"]);
  refusals.report();
});

test("a new window writes refusals again and reports the previous one's count first", () => {
  const { lines, warnings, clock, refusals } = setup();
  for (let i = 0; i < 5; i++) refusals.log(entry(401, undefined, i));
  clock.now = 999;
  refusals.log(entry(401, undefined, 5));
  clock.now = 1_000;
  refusals.log(entry(401, undefined, 6));
  expect(warnings).toEqual([{ msg: "Refused requests beyond the access-line limit", refused: 3, limit_per_second: 3 }]);
  expect(lines.map((l) => l.requestId)).toEqual(["r-401-none-0", "r-401-none-1", "r-401-none-2", "r-401-none-6"]);
  refusals.report();
  expect(warnings).toHaveLength(1);
});

test("the count is reported when the window ends, even if no refusal follows", async () => {
  const { warnings, refusals } = setup(30);
  for (let i = 0; i < 4; i++) refusals.log(entry(401, undefined, i));
  expect(warnings).toEqual([]);
  await Bun.sleep(80);
  expect(warnings).toEqual([{ msg: "Refused requests beyond the access-line limit", refused: 1, limit_per_second: 3 }]);
});
