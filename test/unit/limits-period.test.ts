/**
 * Budget periods (src/limits/period.ts): UTC boundaries, weeks from Monday,
 * months of any length, and `total` that never ends.
 */
import { describe, expect, test } from "bun:test";
import { BUDGET_PERIODS, periodEnd, periodStart } from "../../src/limits/period.ts";

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

describe("periodStart", () => {
  test("total starts at 0 (never resets)", () => {
    expect(periodStart("total", at("2026-01-15T12:00:00Z"))).toBe(0);
  });

  test("daily starts at UTC midnight, whatever the local zone", () => {
    expect(iso(periodStart("daily", at("2026-01-15T12:34:56.789Z")))).toBe("2026-01-15T00:00:00.000Z");
    expect(iso(periodStart("daily", at("2026-01-15T00:00:00.000Z")))).toBe("2026-01-15T00:00:00.000Z");
    expect(iso(periodStart("daily", at("2026-01-15T23:59:59.999Z")))).toBe("2026-01-15T00:00:00.000Z");
    // 23:30 in New York on the 14th is already the 15th in UTC.
    expect(iso(periodStart("daily", at("2026-01-14T23:30:00-05:00")))).toBe("2026-01-15T00:00:00.000Z");
  });

  test("weekly starts on Monday 00:00 UTC (ISO weeks)", () => {
    // 2026-01-12 is a Monday, 2026-01-18 a Sunday.
    expect(iso(periodStart("weekly", at("2026-01-12T00:00:00Z")))).toBe("2026-01-12T00:00:00.000Z");
    expect(iso(periodStart("weekly", at("2026-01-15T12:00:00Z")))).toBe("2026-01-12T00:00:00.000Z");
    expect(iso(periodStart("weekly", at("2026-01-18T23:59:59.999Z")))).toBe("2026-01-12T00:00:00.000Z");
    expect(iso(periodStart("weekly", at("2026-01-19T00:00:00Z")))).toBe("2026-01-19T00:00:00.000Z");
    // A week across a year boundary: Thursday 2026-01-01 belongs to the week of Monday 2025-12-29.
    expect(iso(periodStart("weekly", at("2026-01-01T08:00:00Z")))).toBe("2025-12-29T00:00:00.000Z");
  });

  test("monthly starts on the 1st at 00:00 UTC", () => {
    expect(iso(periodStart("monthly", at("2026-01-15T12:00:00Z")))).toBe("2026-01-01T00:00:00.000Z");
    expect(iso(periodStart("monthly", at("2026-01-31T23:59:59.999Z")))).toBe("2026-01-01T00:00:00.000Z");
    expect(iso(periodStart("monthly", at("2026-02-01T00:00:00Z")))).toBe("2026-02-01T00:00:00.000Z");
    expect(iso(periodStart("monthly", at("2028-02-29T10:00:00Z")))).toBe("2028-02-01T00:00:00.000Z");
  });
});

describe("periodEnd", () => {
  test("total never ends", () => {
    expect(periodEnd("total", 0)).toBeUndefined();
  });

  test("daily and weekly: one day, seven days", () => {
    expect(iso(periodEnd("daily", at("2026-01-15T00:00:00Z")))).toBe("2026-01-16T00:00:00.000Z");
    expect(iso(periodEnd("daily", at("2026-12-31T00:00:00Z")))).toBe("2027-01-01T00:00:00.000Z");
    expect(iso(periodEnd("weekly", at("2026-01-12T00:00:00Z")))).toBe("2026-01-19T00:00:00.000Z");
    expect(iso(periodEnd("weekly", at("2025-12-29T00:00:00Z")))).toBe("2026-01-05T00:00:00.000Z");
  });

  test("monthly: to the next 1st, for 28-, 29-, 30- and 31-day months and December", () => {
    expect(iso(periodEnd("monthly", at("2026-01-01T00:00:00Z")))).toBe("2026-02-01T00:00:00.000Z");
    expect(iso(periodEnd("monthly", at("2026-02-01T00:00:00Z")))).toBe("2026-03-01T00:00:00.000Z");
    expect(iso(periodEnd("monthly", at("2028-02-01T00:00:00Z")))).toBe("2028-03-01T00:00:00.000Z");
    expect(iso(periodEnd("monthly", at("2026-04-01T00:00:00Z")))).toBe("2026-05-01T00:00:00.000Z");
    expect(iso(periodEnd("monthly", at("2026-12-01T00:00:00Z")))).toBe("2027-01-01T00:00:00.000Z");
  });

  test("every instant lies in [start, end) of its own period, and end is the next period's start", () => {
    const base = at("2025-12-20T00:00:00Z");
    for (const period of BUDGET_PERIODS) {
      if (period === "total") continue;
      // Every 7 hours 13 minutes across ~80 days: hits all weekdays, hours and two month ends.
      for (let now = base; now < base + 80 * 86_400_000; now += 26_000_000) {
        const start = periodStart(period, now);
        const end = periodEnd(period, start) as number;
        expect(start).toBeLessThanOrEqual(now);
        expect(end).toBeGreaterThan(now);
        expect(periodStart(period, end)).toBe(end);
        expect(periodStart(period, end - 1)).toBe(start);
      }
    }
  });
});
