/**
 * POST /api/proxy-keys/batch: many keys with the same
 * provider key, limits and expiry, each shown once, as JSON or as an RFC 4180
 * CSV that is safe to open in a spreadsheet; every key works.
 */
import { expect, test } from "bun:test";
import { chatJson, postV1 } from "../helpers/limits.ts";
import { MOCK_TEXT } from "../helpers/mock-provider.ts";
import { chatAnswerText, useProxyHarness } from "../helpers/proxy.ts";

const h = useProxyHarness({ keys: true });

/** RFC 4180: CRLF records, `"`-quoted fields with `""` escapes, commas and line breaks inside quotes. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i] as string;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
      } else if (c === '"') {
        quoted = false;
        i++;
      } else {
        field += c;
        i++;
      }
      continue;
    }
    if (c === '"' && field === "") {
      quoted = true;
      i++;
    } else if (c === ",") {
      row.push(field);
      field = "";
      i++;
    } else if (c === "\r" && text[i + 1] === "\n") {
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
      i += 2;
    } else if (c === '"' || c === "\n" || c === "\r") {
      throw new Error(`not RFC 4180: stray ${JSON.stringify(c)} at ${i}`);
    } else {
      field += c;
      i++;
    }
  }
  if (quoted) throw new Error("not RFC 4180: unterminated quote");
  if (field !== "" || row.length > 0) throw new Error("not RFC 4180: last record without CRLF");
  return rows;
}

test("the CSV parser itself follows RFC 4180", () => {
  expect(parseCsv('a,b\r\n"x,1","say ""hi"""\r\n"two\r\nlines",\r\n')).toEqual([
    ["a", "b"],
    ["x,1", 'say "hi"'],
    ["two\r\nlines", ""],
  ]);
  expect(() => parseCsv('a"b\r\n')).toThrow();
  expect(() => parseCsv("a,b")).toThrow();
});

test("5 keys as JSON: named prefix-001…, limits and expiry on each, keys shown once", async () => {
  const res = await h.t.call("POST", "/api/proxy-keys/batch", {
    count: 5,
    name_prefix: "workshop",
    provider_key_id: h.keys.providerKeyId,
    expires_at: "2026-02-01T00:00:00Z",
    budget_usd: 2.5,
    budget_period: "daily",
    rpm: 30,
    tpm: 50_000,
    max_concurrency: 2,
    allowed_models: ["gpt-4o-mini"],
  });
  expect(res.status).toBe(201);
  expect(res.json.next_cursor).toBeNull();
  const data = res.json.data as Array<Record<string, unknown> & { id: string }>;
  expect(data.map((k) => k.name)).toEqual(["workshop-001", "workshop-002", "workshop-003", "workshop-004", "workshop-005"]);
  expect(new Set(data.map((k) => k.key)).size).toBe(5);
  expect(new Set(data.map((k) => k.id)).size).toBe(5);
  for (const key of data) {
    expect(key).toMatchObject({
      provider_key_id: h.keys.providerKeyId,
      status: "active",
      expires_at: "2026-02-01T00:00:00.000Z",
      budget_usd: 2.5,
      budget_period: "daily",
      rpm: 30,
      tpm: 50_000,
      max_concurrency: 2,
      allowed_models: ["gpt-4o-mini"],
      spend_usd: 0,
      reserved_usd: 0,
      budget_remaining_usd: 2.5,
      period_started_at: "2026-01-15T00:00:00.000Z",
    });
    expect(String(key.key)).toMatch(/^kwp_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}$/);
    // Shown once: reading the key back never returns the secret.
    const again = await h.t.call("GET", `/api/proxy-keys/${key.id}`);
    expect(again.status).toBe(200);
    expect("key" in again.json).toBe(false);
    expect(again.text).not.toContain(String(key.key));
    expect(again.json).toMatchObject({ name: key.name, rpm: 30, budget_usd: 2.5 });
  }
  const listed = await h.t.call("GET", `/api/proxy-keys?provider_key_id=${h.keys.providerKeyId}&limit=200`);
  expect(listed.text).not.toContain(String(data[0]?.key));
});

test("20 keys as CSV: parses as RFC 4180, one row per key, and every key works through the proxy", async () => {
  const res = await h.t.call(
    "POST",
    "/api/proxy-keys/batch",
    { count: 20, name_prefix: 'hack, day "one"', provider_key_id: h.keys.providerKeyId, budget_usd: 1, rpm: 60 },
    { headers: { accept: "text/csv" } },
  );
  expect(res.status).toBe(201);
  expect(res.headers.get("content-type")).toContain("text/csv");
  const disposition = res.headers.get("content-disposition") ?? "";
  expect(disposition).toMatch(/^attachment; filename="[A-Za-z0-9_-]+-keys\.csv"$/);
  const rows = parseCsv(res.text);
  expect(rows[0]).toEqual(["name", "key", "id", "expires_at", "budget_usd", "budget_period", "rpm", "team_id"]);
  const records = rows.slice(1);
  expect(records.length).toBe(20);
  records.forEach((r, i) => {
    expect(r.length).toBe(8);
    expect(r[0]).toBe(`hack, day "one"-${String(i + 1).padStart(3, "0")}`);
    expect(r[1]).toMatch(/^kwp_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}$/);
    expect(r[1]?.startsWith(`kwp_${r[2]}_`)).toBe(true);
    expect(r.slice(3)).toEqual(["", "1", "total", "60", ""]);
  });
  expect(new Set(records.map((r) => r[1])).size).toBe(20);

  for (const record of records) {
    const response = await postV1(h.baseUrl, record[1] as string, "/chat/completions", chatJson("gpt-4o-mini", 20, { max_tokens: 10 }));
    expect(response.status).toBe(200);
    expect(response.headers.get("x-keyward-ratelimit-limit-requests")).toBe("60");
    expect(chatAnswerText(await response.text())).toBe(MOCK_TEXT);
  }
  expect(h.mock.requests.length).toBe(20);
  // The provider saw its own key, never a proxy key.
  for (const rec of h.mock.requests) expect(rec.headers.authorization).toBe(`Bearer ${h.keys.providerSecret}`);
});

test("a name prefix starting with = is neutralised in the CSV (no spreadsheet formulas)", async () => {
  const prefix = '=HYPERLINK("http://evil.example","click")';
  const res = await h.t.call(
    "POST",
    "/api/proxy-keys/batch",
    { count: 2, name_prefix: prefix, provider_key_id: h.keys.providerKeyId },
    { headers: { accept: "text/csv" } },
  );
  expect(res.status).toBe(201);
  const records = parseCsv(res.text).slice(1);
  expect(records.map((r) => r[0])).toEqual([`'${prefix}-001`, `'${prefix}-002`]);
  for (const record of records) for (const cell of record) expect(cell).not.toMatch(/^[=+\-@]/);
  // The stored name is the one asked for; only the CSV cell is defused.
  const stored = await h.t.call("GET", `/api/proxy-keys/${records[0]?.[2]}`);
  expect(stored.json.name).toBe(`${prefix}-001`);
  for (const lead of ["+", "-", "@"]) {
    const other = await h.t.call(
      "POST",
      "/api/proxy-keys/batch",
      { count: 1, name_prefix: `${lead}cmd`, provider_key_id: h.keys.providerKeyId },
      { headers: { accept: "text/csv" } },
    );
    expect(parseCsv(other.text)[1]?.[0]).toBe(`'${lead}cmd-001`);
  }
});

test("count must be 1 to 1000; nothing is created when the request is refused", async () => {
  const before = await h.t.call("GET", `/api/proxy-keys?provider_key_id=${h.keys.providerKeyId}&limit=200`);
  const tooMany = await h.t.call("POST", "/api/proxy-keys/batch", { count: 1001, name_prefix: "big", provider_key_id: h.keys.providerKeyId });
  expect(tooMany.status).toBe(422);
  expect(tooMany.json.error.field).toBe("count");
  expect((await h.t.call("POST", "/api/proxy-keys/batch", { count: 0, name_prefix: "none", provider_key_id: h.keys.providerKeyId })).status).toBe(422);
  const missing = await h.t.call("POST", "/api/proxy-keys/batch", { count: 3, name_prefix: "orphan", provider_key_id: "pk_doesnotexist" });
  expect(missing.status).toBe(404);
  expect((await h.t.call("POST", "/api/proxy-keys/batch", { count: 2, name_prefix: "x", provider_key_id: h.keys.providerKeyId, rpm: 0 })).status).toBe(422);
  const after = await h.t.call("GET", `/api/proxy-keys?provider_key_id=${h.keys.providerKeyId}&limit=200`);
  expect(after.json.data.length).toBe(before.json.data.length);
});
