import { expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseKey } from "../../src/vault/key-format.ts";
import { createTestApp } from "../helpers/app.ts";
import { createAdminToken, createProxyKey, expectStatus } from "../helpers/admin-fixtures.ts";

const OWASP_ARGON2ID = "$argon2id$v=19$m=19456,t=2,p=1$";

/** The ways a secret could sit in a file: UTF-8, UTF-16, base64, hex. */
function encodings(secret: string): Array<[string, Buffer]> {
  return [
    ["utf8", Buffer.from(secret, "utf8")],
    ["utf16le", Buffer.from(secret, "utf16le")],
    ["base64", Buffer.from(Buffer.from(secret).toString("base64").replace(/=+$/, ""))],
    ["hex", Buffer.from(Buffer.from(secret).toString("hex"))],
  ];
}

function scan(files: Record<string, Buffer>, secrets: Record<string, string>): string[] {
  const found: string[] = [];
  for (const [file, bytes] of Object.entries(files)) {
    for (const [label, secret] of Object.entries(secrets)) {
      for (const [encoding, needle] of encodings(secret)) {
        if (bytes.includes(needle)) found.push(`${label} (${encoding}) in ${file}`);
      }
    }
  }
  return found;
}

function readDataDir(dir: string): Record<string, Buffer> {
  return Object.fromEntries(readdirSync(dir).map((name) => [name, readFileSync(join(dir, name))]));
}

test("no provider key, proxy key, admin token or secret is stored in plaintext", async () => {
  const app = await createTestApp();
  try {
    const secrets: Record<string, string> = {};
    const tag = crypto.randomUUID().replaceAll("-", "");

    // Provider keys with distinctive secrets, one of them replaced in place.
    const providerKeys: Array<[string, string]> = [
      ["openai", `sk-proj-PLAINTEXTSCANopenai${tag}`],
      ["anthropic", `sk-ant-api03-PLAINTEXTSCANanthropic${tag}`],
      ["gemini", `AIzaPLAINTEXTSCANgemini${tag}`],
    ];
    const ids: string[] = [];
    for (const [provider, key] of providerKeys) {
      const res = await app.call("POST", "/api/provider-keys", { name: `scan-${provider}`, provider, key });
      expectStatus(res, 201);
      ids.push(res.json.id);
      secrets[`provider key ${provider}`] = key;
      // A long fragment too: a partial leak is a leak.
      secrets[`provider key ${provider} (middle)`] = key.slice(6, -6);
    }
    const replacement = `sk-proj-PLAINTEXTSCANreplaced${tag}`;
    expectStatus(await app.call("PATCH", `/api/provider-keys/${ids[0]}`, { key: replacement }), 200);
    secrets["replaced provider key"] = replacement;

    // Proxy keys, including a revoked one and a batch.
    const proxyIds: string[] = [];
    for (let i = 0; i < 3; i++) {
      const created = await createProxyKey(app, ids[i % ids.length]!, { metadata: { owner: `user-${i}` } });
      proxyIds.push(created.id);
      secrets[`proxy key ${i}`] = created.key;
      secrets[`proxy key ${i} secret`] = parseKey("proxy", created.key)!.secret;
    }
    expectStatus(await app.call("POST", `/api/proxy-keys/${proxyIds[0]}/revoke`, {}), 200);

    // Admin tokens: the root token and two more.
    secrets["root admin token"] = app.rootToken;
    secrets["root admin secret"] = parseKey("admin", app.rootToken)!.secret;
    for (const scopes of [["read"], ["admin"]]) {
      const created = await createAdminToken(app, scopes);
      secrets[`admin token ${scopes[0]}`] = created.token;
      secrets[`admin secret ${scopes[0]}`] = parseKey("admin", created.token)!.secret;
    }

    // Webhook signing secrets, generated and given, each with an event queued and attempted (signed).
    for (const given of [undefined, `whsec_${Buffer.from(`PLAINTEXTSCANwebhook${tag}`).toString("base64")}`]) {
      const res = await app.call("POST", "/api/webhooks", { url: "https://127.0.0.1:9/hook", events: ["key.revoked"], ...(given ? { secret: given } : {}) });
      expectStatus(res, 201);
      secrets[`webhook secret ${given ? "given" : "generated"}`] = res.json.secret;
    }
    // The given secret's key bytes too (text, so the scan can look for them): that is what signing uses.
    secrets["webhook key given"] = `PLAINTEXTSCANwebhook${tag}`;
    for (const hook of app.store.webhooks.all()) {
      expectStatus(await app.call("POST", `/api/webhooks/${hook.id}/test`), 202);
    }
    await app.services.webhookDispatcher.runOnce();

    // Make the app read and use everything once (caches, audit, verification).
    expectStatus(await app.call("GET", "/api/proxy-keys"), 200);
    expectStatus(await app.call("GET", "/api/audit?limit=200"), 200);

    // WAL mode: recent writes live in keyward.db-wal until a checkpoint; scan both, and every other file.
    expect(existsSync(app.dbPath)).toBe(true);
    expect(existsSync(`${app.dbPath}-wal`)).toBe(true);
    const files = readDataDir(app.dataDir);
    expect(files["keyward.db-wal"]!.length).toBeGreaterThan(0);
    // The scan can see: the distinctive provider names and the proxy key ids are in there.
    expect(Buffer.concat(Object.values(files)).includes(Buffer.from("scan-anthropic"))).toBe(true);
    expect(Buffer.concat(Object.values(files)).includes(Buffer.from(proxyIds[1]!))).toBe(true);
    expect(scan(files, secrets)).toEqual([]);

    // Only OWASP-parameter argon2id hashes are stored for proxy keys and admin tokens.
    for (const id of proxyIds) {
      expect(app.store.proxyKeys.byId(id)!.secretHash.startsWith(OWASP_ARGON2ID)).toBe(true);
    }
    const tokens = app.store.adminTokens.page({ limit: 100 });
    expect(tokens).toHaveLength(3);
    for (const row of tokens) expect(row.secretHash.startsWith(OWASP_ARGON2ID)).toBe(true);

    // After close (checkpoint: the WAL is folded into keyward.db) the file is still clean.
    await app.close();
    const closed = readDataDir(app.dataDir);
    expect(Buffer.concat(Object.values(closed)).includes(Buffer.from("scan-anthropic"))).toBe(true);
    expect(scan(closed, secrets)).toEqual([]);
  } finally {
    await app.cleanup();
  }
});
