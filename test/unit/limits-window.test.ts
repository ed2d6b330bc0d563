/**
 * The one-minute sliding window behind rpm and tpm (src/limits/window.ts):
 * one-second buckets, exact Retry-After, and slot reuse after a minute.
 */
import { describe, expect, test } from "bun:test";
import { MinuteWindow } from "../../src/limits/window.ts";

const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);
const s = (seconds: number) => T0 + seconds * 1000;

describe("MinuteWindow", () => {
  test("total counts the last 60 seconds, bucket by second", () => {
    const w = new MinuteWindow();
    w.add(s(0), 1);
    expect(w.total(s(0))).toBe(1);
    w.add(s(0.5), 2);
    expect(w.total(s(0.5))).toBe(3);
    w.add(s(30), 4);
    expect(w.total(s(30))).toBe(7);
    expect(w.total(s(59.999))).toBe(7);
    // At 60 s the second-0 bucket has left the window; second 30 is still in.
    expect(w.total(s(60))).toBe(4);
    expect(w.total(s(89.999))).toBe(4);
    expect(w.total(s(90))).toBe(0);
  });

  test("a slot reused a minute later starts from zero", () => {
    const w = new MinuteWindow();
    w.add(s(5), 10);
    w.add(s(65), 1); // same slot (65 % 60 === 5)
    expect(w.total(s(65))).toBe(1);
  });

  test("an empty window is 0 and resets in 0", () => {
    const w = new MinuteWindow();
    expect(w.total(T0)).toBe(0);
    expect(w.resetIn(T0)).toBe(0);
  });

  test("retryAfter: seconds until the oldest entries that must leave have left", () => {
    const w = new MinuteWindow();
    w.add(s(0), 1);
    w.add(s(20), 1);
    w.add(s(40), 1);
    // Limit 3 is full; one more fits once the request of second 0 leaves at 60.
    expect(w.retryAfter(s(45), 1, 3)).toBe(15);
    expect(w.retryAfter(s(45.5), 1, 3)).toBe(15); // 14.5 s rounded up
    expect(w.total(s(60)) + 1).toBeLessThanOrEqual(3);
    expect(w.total(s(59.999)) + 1).toBeGreaterThan(3);
    // Two more need seconds 0 and 20 gone: until 80.
    expect(w.retryAfter(s(45), 2, 3)).toBe(35);
  });

  test("retryAfter is at least 1 and at most 60", () => {
    const w = new MinuteWindow();
    w.add(s(0), 5);
    expect(w.retryAfter(s(0), 1, 5)).toBe(60);
    expect(w.retryAfter(s(59.9), 1, 5)).toBe(1);
    // A need above the limit never fits: the longest answer.
    expect(w.retryAfter(s(0), 10, 5)).toBe(60);
  });

  test("resetIn: seconds until the newest entry leaves (x-ratelimit-reset-*)", () => {
    const w = new MinuteWindow();
    w.add(s(0), 1);
    w.add(s(10), 1);
    expect(w.resetIn(s(10))).toBe(60);
    expect(w.resetIn(s(30))).toBe(40);
    expect(w.resetIn(s(69.5))).toBe(1);
    expect(w.resetIn(s(70))).toBe(0);
  });
});
