/**
 * Price resolution (PriceBook in src/limits/pricing.ts) and the built-in
 * table: exact names, then a date suffix, never a prefix; overrides first.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../../src/db/open.ts";
import { createSqliteStore } from "../../src/db/sqlite-store.ts";
import type { Store } from "../../src/db/store.ts";
import { BUILTIN_PRICE_SOURCES, BUILTIN_PRICES, BUILTIN_PRICES_AS_OF } from "../../src/limits/prices-builtin.ts";
import { PriceBook } from "../../src/limits/pricing.ts";
import { detectRuntime } from "../../src/runtime/index.ts";
import { TestClock } from "../helpers/app.ts";

let dir: string;
let store: Store;
let book: PriceBook;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "keyward-prices-"));
  const opened = openDatabase(await detectRuntime(), dir);
  store = createSqliteStore(opened.db, () => opened.client.close());
  book = new PriceBook(store, new TestClock());
});

afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const entryOf = (model: string) => book.resolve(model)?.entry;

describe("resolution", () => {
  test("a date suffix falls back to the base entry", () => {
    expect(entryOf("gpt-4o-2024-08-06")).toBe("gpt-4o");
    expect(entryOf("gpt-4o-mini-2024-07-18")).toBe("gpt-4o-mini");
    expect(entryOf("claude-sonnet-4-5-20250929")).toBe("claude-sonnet-4-5");
    expect(entryOf("claude-haiku-4-5-20251001")).toBe("claude-haiku-4-5");
    expect(entryOf("claude-opus-4-5-20251101")).toBe("claude-opus-4-5");
    expect(entryOf("gpt-5-2025-08-07")).toBe("gpt-5");
    expect(entryOf("models/gemini-2.5-pro")).toBe("gemini-2.5-pro");
  });

  test("a dated snapshot with its own price is priced by it: gpt-4o-2024-05-13 at $5 in / $15 out", () => {
    const p = book.resolve("gpt-4o-2024-05-13");
    expect(p?.entry).toBe("gpt-4o-2024-05-13");
    expect(p?.price).toMatchObject({ inputMicros: 5_000_000, cachedInputMicros: null, outputMicros: 15_000_000 });
  });

  test("a prefix never swallows another model", () => {
    for (const model of ["claude-sonnet-4-6", "claude-opus-4-6", "gpt-5-search-api", "gpt-4o-audio-preview", "gpt-4o-2024-08-06-ft", "gpt-5-turbo"]) {
      expect(book.resolve(model)).toBeUndefined();
    }
    // gpt-5-pro has its own entry, not gpt-5's price.
    expect(book.resolve("gpt-5-pro")?.price).toMatchObject({ inputMicros: 15_000_000, outputMicros: 120_000_000 });
    expect(entryOf("gpt-5-pro-2025-10-06")).toBe("gpt-5-pro");
    expect(entryOf("claude-sonnet-4-5")).toBe("claude-sonnet-4-5");
  });

  test("-latest is not stripped: an alias may move to a differently priced model", () => {
    expect(book.resolve("claude-3-7-sonnet-latest")).toBeUndefined();
    expect(book.resolve("gpt-5-latest")).toBeUndefined();
  });

  test("names that exist on Object.prototype are not prices", () => {
    expect(book.resolve("constructor")).toBeUndefined();
    expect(book.resolve("toString")).toBeUndefined();
  });

  test("an override beats the built-in at each step; the cache follows writes", async () => {
    const before = book.resolve("gpt-4o-2024-08-06");
    expect(before?.source).toBe("builtin");
    await book.set("admin", "gpt-4o", { inputMicros: 1_000_000, cachedInputMicros: null, outputMicros: 2_000_000 });
    expect(book.resolve("gpt-4o-2024-08-06")).toMatchObject({ entry: "gpt-4o", source: "override" });
    // The exact built-in snapshot still wins over its base's override.
    expect(book.resolve("gpt-4o-2024-05-13")).toMatchObject({ entry: "gpt-4o-2024-05-13", source: "builtin" });
    await book.set("admin", "claude-sonnet-4-6", { inputMicros: 3_000_000, cachedInputMicros: 300_000, outputMicros: 15_000_000 });
    expect(book.resolve("claude-sonnet-4-6")).toMatchObject({ entry: "claude-sonnet-4-6", source: "override" });
    expect(await book.remove("admin", "gpt-4o")).toBe(true);
    expect(book.resolve("gpt-4o-2024-08-06")).toMatchObject({ entry: "gpt-4o", source: "builtin" });
  });

  test("the resolution is cached: the same object for the same name", () => {
    const first = book.resolve("gpt-4o-2024-08-06");
    expect(first).toBeDefined();
    expect(book.resolve("gpt-4o-2024-08-06")).toBe(first);
  });
});

describe("built-in table", () => {
  test("states its date and sources", () => {
    expect(BUILTIN_PRICES_AS_OF).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(Number.isNaN(Date.parse(BUILTIN_PRICES_AS_OF))).toBe(false);
    expect(BUILTIN_PRICE_SOURCES.length).toBeGreaterThan(0);
    for (const url of BUILTIN_PRICE_SOURCES) expect(new URL(url).protocol).toBe("https:");
  });

  test("tiers and long-context rates reach the resolved price in micro-dollars", () => {
    expect(book.resolve("gpt-5")?.price.tiers?.priority).toEqual({ inputMicros: 2_500_000, cachedInputMicros: 250_000, outputMicros: 20_000_000 });
    expect(book.resolve("gpt-5")?.price.tiers?.flex).toEqual({ inputMicros: 625_000, cachedInputMicros: 62_500, outputMicros: 5_000_000 });
    expect(book.resolve("claude-sonnet-4-5-20250929")?.price.longContext).toEqual({
      aboveInputTokens: 200_000,
      inputMicros: 6_000_000,
      cachedInputMicros: 600_000,
      outputMicros: 22_500_000,
    });
    expect(book.resolve("gemini-2.5-pro")?.price.longContext).toMatchObject({ inputMicros: 2_500_000, outputMicros: 15_000_000 });
    expect(book.resolve("claude-haiku-4-5")?.price.longContext).toBeUndefined();
  });

  test("every entry's rates are sane: non-negative, long-context and priority never cheaper, flex never dearer", () => {
    for (const [model, p] of Object.entries(BUILTIN_PRICES)) {
      try {
        expect(p.input).toBeGreaterThanOrEqual(0);
        expect(p.output).toBeGreaterThanOrEqual(0);
        if (p.cachedInput !== undefined) expect(p.cachedInput).toBeLessThanOrEqual(p.input);
        if (p.longContext) {
          expect(p.longContext.input).toBeGreaterThanOrEqual(p.input);
          expect(p.longContext.output).toBeGreaterThanOrEqual(p.output);
        }
        if (p.tiers?.priority) expect(p.tiers.priority.input).toBeGreaterThanOrEqual(p.input);
        if (p.tiers?.flex) expect(p.tiers.flex.input).toBeLessThanOrEqual(p.input);
      } catch (err) {
        throw new Error(`${model}: ${(err as Error).message}`);
      }
    }
  });
});
