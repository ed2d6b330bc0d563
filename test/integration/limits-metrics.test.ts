/**
 * /metrics: valid Prometheus text exposition whose counters,
 * histograms and gauges move with the traffic that caused them; open by
 * default, bearer-protected with `metricsToken`.
 */
import { beforeAll, expect, test } from "bun:test";
import { createTestApp } from "../helpers/app.ts";
import { chatJson, postV1, waitFor, waitSettled } from "../helpers/limits.ts";
import { createKeyPair, expectProxyError, fetchText, useProxyHarness, type KeyPair } from "../helpers/proxy.ts";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Scrape {
  types: Map<string, string>;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** Parses the text exposition format strictly enough to catch anything a Prometheus server would reject. */
function parsePrometheus(text: string): Scrape {
  expect(text.endsWith("\n")).toBe(true);
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const samples: Sample[] = [];
  const familyOf = (name: string): string => {
    for (const suffix of ["_bucket", "_sum", "_count"]) {
      const base = name.slice(0, -suffix.length);
      if (name.endsWith(suffix) && types.get(base) === "histogram") return base;
    }
    return name;
  };
  for (const line of text.slice(0, -1).split("\n")) {
    if (line === "") continue;
    if (line.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
      if (!m) throw new Error(`bad comment line: ${line}`);
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      expect(name).toMatch(NAME);
      if (kind === "HELP") {
        if (helps.has(name)) throw new Error(`HELP twice for ${name}`);
        helps.add(name);
      } else {
        if (types.has(name)) throw new Error(`TYPE twice for ${name}`);
        if (samples.some((s) => familyOf(s.name) === name)) throw new Error(`TYPE after samples for ${name}`);
        expect(["counter", "gauge", "histogram", "summary", "untyped"]).toContain(rest);
        types.set(name, rest);
      }
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: -?\d+)?$/.exec(line);
    if (!m) throw new Error(`bad sample line: ${line}`);
    const [, name, labelText, valueText] = m as unknown as [string, string, string | undefined, string];
    const labels: Record<string, string> = {};
    if (labelText) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/y;
      let consumed = 0;
      while (consumed < labelText.length) {
        re.lastIndex = consumed;
        const lm = re.exec(labelText);
        if (!lm) throw new Error(`bad labels: ${labelText}`);
        const [whole, key, raw] = lm as unknown as [string, string, string];
        if (key in labels) throw new Error(`label ${key} twice in ${line}`);
        labels[key] = raw.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
        consumed += whole.length;
      }
    }
    const value = valueText === "+Inf" ? Number.POSITIVE_INFINITY : valueText === "-Inf" ? Number.NEGATIVE_INFINITY : Number(valueText);
    if (Number.isNaN(value) && valueText !== "NaN") throw new Error(`bad value: ${line}`);
    if (!types.has(familyOf(name))) throw new Error(`sample without TYPE: ${line}`);
    samples.push({ name, labels, value });
  }
  // Histograms: cumulative buckets ending in +Inf = _count, per series.
  for (const [family, type] of types) {
    if (type !== "histogram") continue;
    const series = new Map<string, Sample[]>();
    for (const s of samples.filter((x) => x.name === `${family}_bucket`)) {
      const { le, ...rest } = s.labels;
      expect(le).toBeDefined();
      const key = JSON.stringify(rest);
      series.set(key, [...(series.get(key) ?? []), s]);
    }
    for (const [key, buckets] of series) {
      const values = buckets.map((b) => b.value);
      expect([...values].sort((a, b) => a - b)).toEqual(values);
      expect(buckets.at(-1)?.labels.le).toBe("+Inf");
      const count = samples.find((x) => x.name === `${family}_count` && JSON.stringify(x.labels) === key);
      expect(count?.value).toBe(values.at(-1));
      expect(samples.some((x) => x.name === `${family}_sum` && JSON.stringify(x.labels) === key)).toBe(true);
    }
  }
  return { types, samples };
}

/** A sample's value (0 when the series does not exist yet). */
function value(scrape: Scrape, name: string, labels: Record<string, string> = {}): number {
  const found = scrape.samples.find(
    (s) => s.name === name && Object.keys(labels).length === Object.keys(s.labels).length && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  return found?.value ?? 0;
}

// Log rows stay queued (no timer flush during the test), so the queue-depth gauge is predictable.
const h = useProxyHarness({ mock: { usage: { input: 200, output: 100 } }, config: { logFlushIntervalMs: 3_600_000 } });
let openai: KeyPair;
let limited: KeyPair;

async function scrape(headers: Record<string, string> = {}): Promise<Scrape> {
  const res = await fetch(`${h.url}/metrics`, { headers });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/plain");
  return parsePrometheus(await res.text());
}

beforeAll(async () => {
  openai = await createKeyPair(h.t, { base_url: h.mock.baseUrl });
  limited = await createKeyPair(h.t, { base_url: h.mock.baseUrl, proxy: { rpm: 1 } });
});

test("the parser rejects what Prometheus would", () => {
  expect(() => parsePrometheus("x 1\n")).toThrow(); // no TYPE
  expect(() => parsePrometheus('# TYPE x counter\nx{a="1} 1\n')).toThrow();
  expect(() => parsePrometheus("# TYPE x counter\nx one\n")).toThrow();
  expect(() => parsePrometheus("# TYPE x counter\n# TYPE x gauge\nx 1\n")).toThrow();
  const ok = parsePrometheus('# HELP x A thing\n# TYPE x counter\nx{a="q\\"uote",b="2"} 3\n');
  expect(value(ok, "x", { a: 'q"uote', b: "2" })).toBe(3);
});

test("every family is declared with HELP and TYPE, even before any traffic", async () => {
  const s = await scrape();
  expect(Object.fromEntries(s.types)).toEqual({
    keyward_requests_total: "counter",
    keyward_request_duration_seconds: "histogram",
    keyward_time_to_first_byte_seconds: "histogram",
    keyward_tokens_total: "counter",
    keyward_cost_usd_total: "counter",
    keyward_auth_failures_total: "counter",
    keyward_limit_rejections_total: "counter",
    keyward_budget_overruns_total: "counter",
    keyward_budget_overrun_usd_total: "counter",
    keyward_webhook_events_dropped_total: "counter",
    keyward_webhook_deliveries_total: "counter",
    keyward_active_streams: "gauge",
    keyward_request_log_queue_depth: "gauge",
  });
});

test("counters, histograms and gauges move with traffic", async () => {
  await h.t.flushLog();
  const before = await scrape();
  const send = async (keys: KeyPair, extra: Record<string, unknown> = {}) => {
    const res = await postV1(h.baseUrl, keys.proxyKey, "/chat/completions", chatJson("gpt-4o-mini", 1_000, { max_tokens: 100, ...extra }));
    await res.text();
    return res.status;
  };
  expect(await send(openai)).toBe(200);
  expect(await send(openai)).toBe(200);
  expect(await send(openai, { stream: true })).toBe(200);
  expect(await send(limited)).toBe(200);
  expect(await send(limited)).toBe(429); // rpm 1
  const bad = await fetchText(`${h.baseUrl}/chat/completions`, { method: "POST", headers: { authorization: "Bearer kwp_nope" }, body: "{}" });
  expectProxyError(bad, 401, "invalid_api_key");
  h.mock.next({ error: { status: 503 } });
  expect(await send(openai)).toBe(503);
  await waitSettled(h.t);

  const after = await scrape();
  const delta = (name: string, labels: Record<string, string> = {}) => value(after, name, labels) - value(before, name, labels);
  expect(delta("keyward_requests_total", { provider: "openai", status: "200" })).toBe(4);
  expect(delta("keyward_requests_total", { provider: "openai", status: "429" })).toBe(1);
  expect(delta("keyward_requests_total", { provider: "openai", status: "503" })).toBe(1);
  expect(delta("keyward_requests_total", { provider: "none", status: "401" })).toBe(1);
  expect(delta("keyward_auth_failures_total", { code: "invalid_api_key" })).toBe(1);
  expect(delta("keyward_limit_rejections_total", { limit: "rpm" })).toBe(1);
  expect(delta("keyward_tokens_total", { provider: "openai", direction: "input" })).toBe(4 * 200);
  expect(delta("keyward_tokens_total", { provider: "openai", direction: "output" })).toBe(4 * 100);
  // 4 × (200 × 0.15 + 100 × 0.6) µ$ = 360 µ$.
  expect(delta("keyward_cost_usd_total", { provider: "openai" })).toBeCloseTo(0.00036, 12);
  expect(delta("keyward_request_duration_seconds_count", { provider: "openai" })).toBe(6);
  expect(delta("keyward_request_duration_seconds_count", { provider: "none" })).toBe(1);
  expect(delta("keyward_request_duration_seconds_sum", { provider: "openai" })).toBeGreaterThan(0);
  // First bytes: the four answers and the 503's body (the refusal never went upstream).
  expect(delta("keyward_time_to_first_byte_seconds_count", { provider: "openai" })).toBe(5);
  expect(value(after, "keyward_active_streams")).toBe(0);
  // Six log rows wait for the next flush (the unauthenticated 401 gets none); reading the log flushes them.
  expect(value(after, "keyward_request_log_queue_depth")).toBe(6);
  expect((await h.t.call("GET", "/api/logs?limit=1")).status).toBe(200);
  expect(value(await scrape(), "keyward_request_log_queue_depth")).toBe(0);
});

test("keyward_active_streams counts streams in progress", async () => {
  h.mock.next({ quiet: { afterEvents: 1, ms: 600_000 } });
  const controller = new AbortController();
  const res = await postV1(h.baseUrl, openai.proxyKey, "/chat/completions", chatJson("gpt-4o-mini", 100, { stream: true }), {
    signal: controller.signal,
  });
  expect(res.status).toBe(200);
  expect(value(await scrape(), "keyward_active_streams")).toBe(1);
  controller.abort();
  await waitFor("the stream to end", () => h.t.services.metrics.activeStreams === 0);
  const s = await scrape();
  expect(value(s, "keyward_active_streams")).toBe(0);
  expect(value(s, "keyward_requests_total", { provider: "openai", status: "499" })).toBe(1);
});

test("with metricsToken, /metrics needs it as a bearer token", async () => {
  const t = await createTestApp({ config: { metricsToken: "metrics-secret-123" } });
  try {
    const get = (authorization?: string) => t.app.handle(new Request("http://localhost/metrics", { headers: authorization ? { authorization } : {} }));
    const none = await get();
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toContain("Bearer");
    expect(await none.text()).not.toContain("keyward_");
    expect((await get("Bearer wrong")).status).toBe(401);
    expect((await get("Bearer metrics-secret-1234")).status).toBe(401);
    expect((await get("Basic metrics-secret-123")).status).toBe(401);
    // The admin token is not the metrics token.
    expect((await get(`Bearer ${t.rootToken}`)).status).toBe(401);
    const ok = await get("Bearer metrics-secret-123");
    expect(ok.status).toBe(200);
    expect(parsePrometheus(await ok.text()).types.get("keyward_requests_total")).toBe("counter");
  } finally {
    await t.cleanup();
  }
});

test("without metricsToken, /metrics is open", async () => {
  const res = await fetch(`${h.url}/metrics`);
  expect(res.status).toBe(200);
});
