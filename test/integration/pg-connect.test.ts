/**
 * openPostgres against servers that ask for what it is meant to give: a
 * password (scram-sha-256) from the password file, TLS with the CA file
 * (verify-full and libpq's `require` with a CA), a unix socket. Each of the
 * two servers is a dedicated one, so the tests can also stop and restart it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Sql } from "postgres";
import { openPostgres, type PostgresOptions } from "../../src/db/pg/connect.ts";
import { startPostgresServer, type PostgresServer } from "../helpers/postgres.ts";

const dir = mkdtempSync(join(tmpdir(), "keyward-pg-connect-"));
const servers: PostgresServer[] = [];
const clients: Sql[] = [];

afterAll(async () => {
  await Promise.all(clients.splice(0).map((sql) => sql.end({ timeout: 1 })));
  await Promise.all(servers.splice(0).map((server) => server.close()));
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content, { mode: 0o600 });
  return path;
}

function open(options: PostgresOptions): Sql {
  const sql = openPostgres({ max: 1, ...options });
  clients.push(sql);
  return sql;
}

async function ask(options: PostgresOptions): Promise<{ user: string; ssl: boolean }> {
  const sql = open(options);
  try {
    const [row] = await sql<
      { user: string; ssl: boolean }[]
    >`SELECT current_user AS user, coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false) AS ssl`;
    if (!row) throw new Error("no row");
    return row;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

describe("a password from the password file", () => {
  let server: PostgresServer;
  beforeAll(async () => {
    server = await startPostgresServer({ password: "pg-Secret 1" });
    servers.push(server);
  });

  test("logs in where the URL has no password, and wins over a wrong one in the URL", async () => {
    const passwordFile = file("password", "pg-Secret 1\n");
    expect(await ask({ url: server.url, passwordFile })).toEqual({ user: "postgres", ssl: false });
    const wrongInUrl = server.url.replace("postgres@", "postgres:wrong@");
    expect(await ask({ url: wrongInUrl, passwordFile })).toEqual({ user: "postgres", ssl: false });
  });

  test("a wrong password file, or none, is refused by the server", async () => {
    await expect(ask({ url: server.url, passwordFile: file("wrong", "not it") })).rejects.toThrow(/password authentication failed/);
    await expect(ask({ url: server.url })).rejects.toThrow(/password authentication failed/);
  });

  test("the unix socket (trusted on this server) needs none", async () => {
    const socketUrl = `postgres://postgres@${encodeURIComponent(server.dir)}:${server.port}/postgres`;
    expect(await ask({ url: socketUrl })).toEqual({ user: "postgres", ssl: false });
    expect(await ask({ url: `postgres:///postgres?host=${server.dir}&user=postgres&port=${server.port}` })).toEqual({ user: "postgres", ssl: false });
  });

  test("a pool survives the server stopping and starting again", async () => {
    const sql = open({ url: server.url, passwordFile: file("password", "pg-Secret 1") });
    expect([...(await sql`SELECT 1 AS one`)]).toEqual([{ one: 1 }]);
    await server.stop();
    await expect(sql`SELECT 1 AS one`.then(() => "answered")).rejects.toThrow();
    await server.start();
    expect([...(await sql`SELECT 1 AS one`)]).toEqual([{ one: 1 }]);
  });
});

describe("TLS", () => {
  let server: PostgresServer;
  const cert = (name: string) => join(dir, name);
  const openssl = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });

  /** A CA, and a server certificate it signs for `san`. */
  function makeCa(name: string): void {
    openssl(
      ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", `/CN=${name}`]
        .concat(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        .concat(["-keyout", cert(`${name}.key`), "-out", cert(`${name}.crt`)]),
    );
  }
  function makeServerCert(ca: string, name: string, san: string): void {
    openssl([
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-subj",
      "/CN=keyward-test-db",
      "-keyout",
      cert(`${name}.key`),
      "-out",
      cert(`${name}.csr`),
    ]);
    const ext = file(`${name}.ext`, `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
    openssl([
      "x509",
      "-req",
      "-in",
      cert(`${name}.csr`),
      "-CA",
      cert(`${ca}.crt`),
      "-CAkey",
      cert(`${ca}.key`),
      "-CAcreateserial",
      "-days",
      "2",
      "-extfile",
      ext,
      "-out",
      cert(`${name}.crt`),
    ]);
  }

  beforeAll(async () => {
    makeCa("ca");
    makeCa("other-ca");
    makeServerCert("ca", "server", "IP:127.0.0.1,DNS:localhost");
    makeServerCert("ca", "misnamed", "DNS:db.invalid");
    server = await startPostgresServer({ tls: { certFile: cert("server.crt"), keyFile: cert("server.key") } });
    servers.push(server);
  });

  test("verify-full with the right CA file connects over TLS", async () => {
    expect(await ask({ url: server.url, caFile: cert("ca.crt") })).toEqual({ user: "postgres", ssl: true });
    expect(await ask({ url: `${server.url}?sslrootcert=${cert("ca.crt")}` })).toEqual({ user: "postgres", ssl: true });
  });

  test("verify-full with another CA, or the system's, is refused before anything is sent", async () => {
    await expect(ask({ url: server.url, caFile: cert("other-ca.crt") })).rejects.toThrow(/unable to verify/);
    await expect(ask({ url: `${server.url}?sslmode=verify-full` })).rejects.toThrow(/unable to verify/);
  });

  test("require encrypts without checking; disable stays in plain text", async () => {
    expect(await ask({ url: `${server.url}?sslmode=require` })).toEqual({ user: "postgres", ssl: true });
    expect(await ask({ url: `${server.url}?sslmode=require`, caFile: cert("ca.crt") })).toEqual({ user: "postgres", ssl: true });
    expect(await ask({ url: server.url })).toEqual({ user: "postgres", ssl: false });
  });

  test("a certificate for another name: verify-full refuses it, require with the CA (libpq's verify-ca) accepts it", async () => {
    copyFileSync(cert("misnamed.crt"), join(server.dir, "server.crt"));
    copyFileSync(cert("misnamed.key"), join(server.dir, "server.key"));
    const admin = open({ url: server.url });
    await admin`SELECT pg_reload_conf()`;
    await admin.end();
    await Bun.sleep(300);
    await expect(ask({ url: server.url, caFile: cert("ca.crt") })).rejects.toThrow(/does not match certificate's altnames/);
    expect(await ask({ url: `${server.url}?sslmode=require`, caFile: cert("ca.crt") })).toEqual({ user: "postgres", ssl: true });
    await expect(ask({ url: `${server.url}?sslmode=require`, caFile: cert("other-ca.crt") })).rejects.toThrow(/unable to verify/);
  });
});
