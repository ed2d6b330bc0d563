import { describe, expect, test } from "bun:test";
import { UpstreamGuard } from "../../src/proxy/upstream-guard.ts";

/** A client signal that counts how often the guard asks for it. */
function client() {
  const controller = new AbortController();
  const spy = {
    asked: 0,
    leave: () => controller.abort(),
    signal: () => {
      spy.asked++;
      return controller.signal;
    },
  };
  return spy;
}

/** Resolves when `signal` aborts, or with "open" after `ms`. */
const abortedWithin = (signal: AbortSignal, ms: number) =>
  new Promise<"aborted" | "open">((resolve) => {
    if (signal.aborted) return resolve("aborted");
    const timer = setTimeout(() => resolve("open"), ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve("aborted");
    });
  });

describe("UpstreamGuard", () => {
  test("an exchange released before the watch point never asks for the client's signal", async () => {
    const c = client();
    const guard = new UpstreamGuard(c.signal, 10_000, 20);
    guard.headersReceived();
    guard.release();
    await Bun.sleep(60);
    expect(c.asked).toBe(0);
    expect(guard.signal.aborted).toBe(false);
  });

  test("a client that left before the watch point is caught at it: the upstream is aborted then", async () => {
    const c = client();
    const guard = new UpstreamGuard(c.signal, 10_000, 20);
    c.leave();
    expect(await abortedWithin(guard.signal, 1_000)).toBe("aborted");
    expect(c.asked).toBe(1);
    expect(guard.clientGone).toBe(true);
    expect(guard.timedOut).toBe(false);
    guard.release();
  });

  test("once watching, a client leaving aborts the upstream at once, answered or not", async () => {
    const c = client();
    const guard = new UpstreamGuard(c.signal, 10_000, 10);
    guard.headersReceived(); // the body is still being read: the watch goes on
    await Bun.sleep(40);
    expect(c.asked).toBe(1);
    expect(guard.signal.aborted).toBe(false);
    c.leave();
    expect(guard.signal.aborted).toBe(true);
    expect(guard.clientGone).toBe(true);
    guard.release();
  });

  test("no headers within the timeout: aborted as timed out, with the client still there", async () => {
    const c = client();
    const guard = new UpstreamGuard(c.signal, 60, 10);
    expect(await abortedWithin(guard.signal, 1_000)).toBe("aborted");
    expect(guard.timedOut).toBe(true);
    expect(guard.clientGone).toBe(false);
    expect(c.asked).toBe(1);
  });

  test("a timeout shorter than the watch point still fires on time", async () => {
    const c = client();
    const guard = new UpstreamGuard(c.signal, 20, 10_000);
    expect(await abortedWithin(guard.signal, 1_000)).toBe("aborted");
    expect(guard.timedOut).toBe(true);
    expect(c.asked).toBe(0);
  });

  test("headers in time: the timeout no longer applies, and the watch still starts after it", async () => {
    const c = client();
    const guard = new UpstreamGuard(c.signal, 20, 50);
    guard.headersReceived();
    expect(await abortedWithin(guard.signal, 120)).toBe("open");
    expect(guard.timedOut).toBe(false);
    expect(c.asked).toBe(1);
    guard.release();
  });

  test("released: a client leaving later no longer touches the finished exchange", async () => {
    const c = client();
    const guard = new UpstreamGuard(c.signal, 10_000, 10);
    await Bun.sleep(40);
    guard.release();
    c.leave();
    expect(guard.signal.aborted).toBe(false);
  });

  test("a runtime without a disconnect signal: nothing to watch, the timeout alone applies", async () => {
    const guard = new UpstreamGuard(() => undefined, 60, 10);
    expect(await abortedWithin(guard.signal, 1_000)).toBe("aborted");
    expect(guard.timedOut).toBe(true);
    expect(guard.clientGone).toBe(false);
  });

  test("once watching, the guard lets go of the caller's closure (and all it holds, a request body included)", async () => {
    const c = client();
    // Each closure is made in a scope of its own, as a handler's is: afterwards only its guard references it.
    const start = () => {
      const body = new Uint8Array(64 * 1024);
      const guard = new UpstreamGuard(() => (body.byteLength > 0 ? c.signal() : undefined), 10_000, 10);
      guard.headersReceived();
      return { guard, body: new WeakRef(body) };
    };
    const exchanges = Array.from({ length: 50 }, start);
    await Bun.sleep(40);
    expect(c.asked).toBe(50);
    Bun.gc(true);
    await Bun.sleep(0);
    Bun.gc(true);
    // The collector scans the stack conservatively and may keep a stray one; the guards themselves are all alive.
    expect(exchanges.filter((e) => e.body.deref() !== undefined).length).toBeLessThan(5);
    for (const e of exchanges) e.guard.release();
  });
});
