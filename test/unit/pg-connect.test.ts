/**
 * What a database URL, a password file and a CA file become for postgres.js,
 * and the config's refusals, without a server (test/integration/pg-connect
 * connects for real).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, type Env, loadServeConfig, parseArgsOptions, parseFlags, postgresOptions, resolveServeConfig, SERVE_OPTIONS } from "../../src/config.ts";
import { DEFAULT_POOL_SIZE, describePostgres, INT8_AS_NUMBER, postgresClientOptions } from "../../src/db/pg/connect.ts";
import { parsePostgresUrl, PostgresUrlError, redactPostgresUrl } from "../../src/db/pg/url.ts";

const dir = mkdtempSync(join(tmpdir(), "keyward-pg-options-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content, { mode: 0o600 });
  return path;
}

function urlError(url: string, ca?: string): string {
  try {
    parsePostgresUrl(url, ca);
  } catch (err) {
    expect(err).toBeInstanceOf(PostgresUrlError);
    return (err as Error).message;
  }
  throw new Error(`expected ${url} to be refused`);
}

describe("parsePostgresUrl", () => {
  test("reads host, port, database and user, percent-decoded", () => {
    expect(parsePostgresUrl("postgresql://key%40ward:p%2Fss@db.example:6543/kw%20db")).toMatchObject({
      host: "db.example",
      port: 6543,
      socket: false,
      database: "kw db",
      username: "key@ward",
      password: "p/ss",
    });
    expect(parsePostgresUrl("postgres://u@[::1]/x")).toMatchObject({ host: "::1", port: 5432, sslMode: "disable" });
  });

  test("TLS by default: none on loopback and sockets, verify-full elsewhere or with a CA", () => {
    expect(parsePostgresUrl("postgres://u@localhost/x").sslMode).toBe("disable");
    expect(parsePostgresUrl("postgres://u@127.0.0.53/x").sslMode).toBe("disable");
    expect(parsePostgresUrl("postgres:///x?host=/run/postgresql&user=kw&port=5433")).toMatchObject({
      host: "/run/postgresql",
      port: 5433,
      socket: true,
      sslMode: "disable",
      username: "kw",
    });
    expect(parsePostgresUrl("postgres://kw@%2Frun%2Fpostgresql:5433/x")).toMatchObject({
      host: "/run/postgresql",
      port: 5433,
      socket: true,
      sslMode: "disable",
    });
    expect(parsePostgresUrl("postgres://u@db.example/x").sslMode).toBe("verify-full");
    expect(parsePostgresUrl("postgres://u@10.0.0.5/x").sslMode).toBe("verify-full");
    expect(parsePostgresUrl("postgres://u@127.0.0.1/x", "/etc/ca.pem")).toMatchObject({ sslMode: "verify-full", caFile: "/etc/ca.pem" });
    expect(parsePostgresUrl("postgres://u@127.0.0.1/x?sslrootcert=/ca.pem")).toMatchObject({ sslMode: "verify-full", caFile: "/ca.pem" });
    expect(parsePostgresUrl("postgres://u@db.example/x?sslmode=require").sslMode).toBe("require");
    expect(parsePostgresUrl("postgres://u@db.example/x?sslmode=disable").sslMode).toBe("disable");
    expect(parsePostgresUrl("postgres://u@127.0.0.1/x?sslrootcert=system")).toMatchObject({ sslMode: "verify-full", caFile: undefined });
  });

  test("keyward's own parameters and the password are not in the URL postgres.js gets; the others stay", () => {
    const target = parsePostgresUrl("postgres://u:secret@db.example:5433/x?sslmode=require&sslrootcert=/ca.pem&connect_timeout=5&search_path=kw");
    expect(target.clientUrl).toBe("postgres://db.example:5433/x?connect_timeout=5&search_path=kw");
    expect(target.clientUrl).not.toContain("secret");
  });

  test("refuses what keyward cannot use, saying why", () => {
    expect(urlError("db.example:5432")).toContain("postgres://");
    expect(urlError("mysql://u@db/x")).toContain("postgres:// or postgresql://");
    expect(urlError("postgres://u@db/x?sslmode=prefer")).toContain('sslmode must be one of disable, require, verify-full, got "prefer"');
    expect(urlError("postgres://u@db/x?sslmode=allow")).toContain("sslmode");
    expect(urlError("postgres://u@db/x?ssl=true")).toContain("sslmode");
    expect(urlError("postgres://u@db/x?sslmode=disable&sslmode=require")).toContain("more than once");
    expect(urlError("postgres://u@db/x?sslmode=disable", "/ca.pem")).toContain("CA would never be used");
    expect(urlError("postgres://u@db/x?sslrootcert=/a.pem", "/b.pem")).toContain("give one");
    expect(urlError("postgres:///x")).toContain("no host");
    expect(urlError("postgres://a,b/x")).toContain("several hosts");
    expect(urlError("postgres:///x?host=db.example")).toContain("socket directory");
    expect(urlError("postgres://db.example/x?host=/run/postgresql")).toContain("not both");
    expect(urlError("postgres:///x?host=/run/postgresql&sslmode=require")).toContain("unix socket");
    expect(urlError("postgres://u@db/x?password=hunter2")).toContain("user info");
    expect(urlError("postgres://u@db:5432/x?port=5433")).toContain("port once");
    expect(urlError("postgres://u@db/x?port=http")).toContain("port must be a number");
  });

  test("redaction hides the password and anything after a #", () => {
    expect(redactPostgresUrl("postgres://kw:hunter2@db.example/x?sslmode=require")).toBe("postgres://kw:***@db.example/x?sslmode=require");
    expect(redactPostgresUrl("postgres://kw@db.example/x")).toBe("postgres://kw@db.example/x");
    expect(redactPostgresUrl("postgres://kw:a@db.example/x#hunter2")).not.toContain("hunter2");
    expect(redactPostgresUrl("kw:hunter2@db")).not.toContain("hunter2");
  });
});

describe("postgresClientOptions", () => {
  test("the password file's trimmed content replaces the URL's password", async () => {
    const passwordFile = file("password", "  s3cret from file\n");
    const { url, options } = postgresClientOptions({ url: "postgres://kw:from-url@127.0.0.1:5432/kw", passwordFile });
    expect(url).not.toContain("from-url");
    expect(typeof options.password).toBe("function");
    expect(await (options.password as () => string)()).toBe("s3cret from file");
    expect(JSON.stringify(options)).not.toContain("s3cret");
    expect(options).toMatchObject({ host: "127.0.0.1", port: 5432, database: "kw", username: "kw", ssl: false });
  });

  test("without a password file, the URL's password is used", async () => {
    const { options } = postgresClientOptions({ url: "postgres://kw:from-url@127.0.0.1/kw" });
    expect(await (options.password as () => string)()).toBe("from-url");
  });

  test("an empty or missing password file is an error naming the file", () => {
    const empty = file("empty", " \n");
    expect(() => postgresClientOptions({ url: "postgres://kw@127.0.0.1/kw", passwordFile: empty })).toThrow(
      `Cannot read the database password file ${empty}: it is empty`,
    );
    expect(() => postgresClientOptions({ url: "postgres://kw@127.0.0.1/kw", passwordFile: join(dir, "nope") })).toThrow(
      /Cannot read the database password file .*nope: ENOENT/,
    );
  });

  test("TLS options: verify-full checks chain and name, with the CA file read", () => {
    const ca = file("ca.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    const named = postgresClientOptions({ url: "postgres://kw@db.example/kw", caFile: ca }).options.ssl;
    expect(named).toEqual({ ca: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", rejectUnauthorized: true, servername: "db.example" });
    // An IP address is checked against the certificate's IP entries, and is no server name to send.
    expect(postgresClientOptions({ url: "postgres://kw@10.0.0.5/kw" }).options.ssl).toEqual({ rejectUnauthorized: true });
    expect(postgresClientOptions({ url: "postgres://kw@db.example/kw?sslmode=require" }).options.ssl).toEqual({ rejectUnauthorized: false });
    const verifyCa = postgresClientOptions({ url: "postgres://kw@db.example/kw?sslmode=require", caFile: ca }).options.ssl;
    expect(verifyCa).toMatchObject({ rejectUnauthorized: true });
    expect(() => postgresClientOptions({ url: "postgres://kw@db.example/kw", caFile: join(dir, "missing.pem") })).toThrow(/Cannot read the database CA file/);
  });

  test("pool size, silenced notices, application_name and int8 as numbers", () => {
    const { options } = postgresClientOptions({ url: "postgres://kw@127.0.0.1/kw" });
    expect(options.max).toBe(DEFAULT_POOL_SIZE);
    expect(postgresClientOptions({ url: "postgres://kw@127.0.0.1/kw", max: 3 }).options.max).toBe(3);
    expect(typeof options.onnotice).toBe("function");
    expect(options.connection).toEqual({ application_name: "keyward" });
    expect(INT8_AS_NUMBER.parse?.("1796610847237")).toBe(1_796_610_847_237);
    expect(INT8_AS_NUMBER.parse?.("-42")).toBe(-42);
    expect(INT8_AS_NUMBER.parse?.("9007199254740993")).toBe(9_007_199_254_740_993n);
  });

  test("describePostgres shows where, without the password", () => {
    expect(describePostgres({ url: "postgres://kw:hunter2@db.example/kw" })).toBe("postgres://kw:***@db.example/kw (sslmode verify-full)");
  });
});

describe("config", () => {
  const load = (args: string[], env: Env = {}) => loadServeConfig(parseFlags(args, parseArgsOptions(SERVE_OPTIONS)).values, env);
  const configError = (args: string[], env: Env = {}) => {
    try {
      load(args, env);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as Error).message;
    }
    throw new Error("expected a ConfigError");
  };

  test("no URL: SQLite", () => {
    expect(postgresOptions(load([]))).toBeUndefined();
  });

  test("flags and KEYWARD_* variables give the options", () => {
    expect(
      postgresOptions(load(["--database-url", "postgres://kw@db.example/kw", "--database-password-file", "/run/pw", "--database-ca-file", "/etc/ca.pem"])),
    ).toEqual({
      url: "postgres://kw@db.example/kw",
      passwordFile: "/run/pw",
      caFile: "/etc/ca.pem",
    });
    const env = { KEYWARD_DATABASE_URL: "postgresql://kw@127.0.0.1/kw", KEYWARD_DATABASE_PASSWORD_FILE: "/run/pw" };
    expect(postgresOptions(load([], env))).toEqual({ url: "postgresql://kw@127.0.0.1/kw", passwordFile: "/run/pw" });
  });

  test("a bad URL is a usage error naming its source, never showing the password", () => {
    const message = configError(["--database-url", "mysql://kw:hunter2@db.example/kw"]);
    expect(message).toBe("Invalid --database-url: the scheme must be postgres:// or postgresql://");
    expect(configError([], { KEYWARD_DATABASE_URL: "postgres://kw:hunter2@db.example/kw?sslmode=prefer" })).toStartWith(
      "Invalid KEYWARD_DATABASE_URL: sslmode",
    );
    for (const url of ["kw:hunter2@db.example", "postgres://kw:hunter2@db.example/kw?sslmode=verify-ca", "postgres://kw:hun#ter2@db.example/kw"]) {
      expect(configError(["--database-url", url])).not.toContain("hunter2");
    }
  });

  test("a password or CA file without a URL is refused rather than ignored", () => {
    expect(configError(["--database-password-file", "/run/pw"])).toBe(
      "Invalid --database-password-file: --database-url (KEYWARD_DATABASE_URL) is required too",
    );
    expect(configError([], { KEYWARD_DATABASE_CA_FILE: "/ca.pem" })).toBe(
      "Invalid KEYWARD_DATABASE_CA_FILE: --database-url (KEYWARD_DATABASE_URL) is required too",
    );
  });

  test("config check shows the URL with its password masked", () => {
    const { options } = resolveServeConfig(parseFlags(["--database-url", "postgres://kw:hunter2@db.example/kw"], parseArgsOptions(SERVE_OPTIONS)).values, {});
    expect(options.find((o) => o.flag === "database-url")?.redacted).toBe("postgres://kw:***@db.example/kw");
  });
});
