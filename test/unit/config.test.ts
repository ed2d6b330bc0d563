import { describe, expect, test } from "bun:test";
import { ConfigError, type Env, loadServeConfig, parseArgsOptions, parseFlags, SERVE_OPTIONS, type ServeConfig } from "../../src/config.ts";

/** What `keyward serve <args>` would run with under `env`. */
function load(args: string[], env: Env = {}): ServeConfig {
  const flags = parseFlags(args, parseArgsOptions(SERVE_OPTIONS));
  return loadServeConfig(flags.values, env);
}

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("serve config", () => {
  test("defaults", () => {
    const config = load([]);
    for (const key of ["masterKeyFile", "masterKey", "adminToken"] as const) expect(config[key]).toBeUndefined();
    expect(config).toMatchObject({
      port: 8080,
      host: "0.0.0.0",
      dataDir: "./keyward-data",
      allowHttpUpstreams: false,
      logFormat: "auto",
      logLevel: "info",
      trustProxy: false,
      upstreamTimeoutMs: 60_000,
      maxBodyBytes: 20 * 1024 * 1024,
      shutdownTimeoutMs: 30_000,
    });
  });

  test("an egress proxy in the environment (any of the usual four spellings) sends upstream requests through fetch", () => {
    expect(load([]).egressProxy).toBe(false);
    expect(load([], { HTTPS_PROXY: "" }).egressProxy).toBe(false);
    for (const name of ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"]) {
      expect(load([], { [name]: "http://proxy.corp:3128" }).egressProxy).toBe(true);
    }
  });

  test("every option has a KEYWARD_* env twin", () => {
    const config = load([], {
      KEYWARD_PORT: "9000",
      KEYWARD_HOST: "127.0.0.1",
      KEYWARD_DATA_DIR: "/var/lib/keyward",
      KEYWARD_MASTER_KEY_FILE: "/run/credentials/master",
      KEYWARD_ALLOW_HTTP_UPSTREAMS: "1",
      KEYWARD_LOG_FORMAT: "pretty",
      KEYWARD_LOG_LEVEL: "debug",
      KEYWARD_UPSTREAM_TIMEOUT: "5",
      KEYWARD_MAX_BODY_SIZE: "4096",
      KEYWARD_SHUTDOWN_TIMEOUT: "0",
      KEYWARD_MASTER_KEY: "bWFzdGVy",
      KEYWARD_ADMIN_TOKEN: "kwa_x",
    });
    expect(config).toMatchObject({
      port: 9000,
      host: "127.0.0.1",
      dataDir: "/var/lib/keyward",
      masterKeyFile: "/run/credentials/master",
      masterKey: "bWFzdGVy",
      adminToken: "kwa_x",
      allowHttpUpstreams: true,
      logFormat: "pretty",
      logLevel: "debug",
      upstreamTimeoutMs: 5_000,
      maxBodyBytes: 4096,
      shutdownTimeoutMs: 0,
    });
  });

  test("for every option, the env twin gives the same config as the flag, and not the default", () => {
    const defaults = load([]);
    for (const spec of SERVE_OPTIONS) {
      // --config names a file to read (test/unit/config-file.test.ts); the TLS pair is only valid together.
      if (spec.flag === "config" || spec.flag === "tls-cert" || spec.flag === "tls-key") continue;
      const value =
        spec.kind === "boolean"
          ? "true"
          : spec.kind === "enum"
            ? (spec.values[spec.values.length - 1] as string)
            : spec.kind === "string"
              ? spec.flag === "cors-origins"
                ? "https://app.example.com"
                : spec.flag === "database-url"
                  ? "postgres://kw@db.example/kw"
                  : "/some/value"
              : String(spec.kind === "port" ? 4321 : spec.max);
      // The database's password and CA files are only valid with a database URL: both loads get one.
      const base = spec.flag === "database-password-file" || spec.flag === "database-ca-file" ? ["--database-url", "postgres://kw@db.example/kw"] : [];
      const viaFlag = load(spec.kind === "boolean" ? [...base, `--${spec.flag}`] : [...base, `--${spec.flag}`, value]);
      const viaEnv = load(base, { [spec.env]: value });
      expect(viaEnv).toEqual(viaFlag);
      expect(viaEnv).not.toEqual(defaults);
    }
  });

  test("every option has a flag", () => {
    const config = load([
      "--port",
      "9001",
      "--host",
      "::1",
      "--data-dir",
      "/data",
      "--master-key-file",
      "/k",
      "--allow-http-upstreams",
      "--log-format",
      "pretty",
      "--log-level",
      "warn",
      "--upstream-timeout",
      "7",
      "--max-body-size",
      "2048",
      "--shutdown-timeout",
      "3",
    ]);
    expect(config).toMatchObject({
      port: 9001,
      host: "::1",
      dataDir: "/data",
      masterKeyFile: "/k",
      allowHttpUpstreams: true,
      logFormat: "pretty",
      logLevel: "warn",
      upstreamTimeoutMs: 7_000,
      maxBodyBytes: 2048,
      shutdownTimeoutMs: 3_000,
    });
  });

  test("flags win over env", () => {
    const env = {
      KEYWARD_PORT: "9000",
      KEYWARD_HOST: "10.0.0.1",
      KEYWARD_DATA_DIR: "/env",
      KEYWARD_LOG_LEVEL: "error",
      KEYWARD_ALLOW_HTTP_UPSTREAMS: "false",
    };
    const config = load(["--port=9100", "--host", "127.0.0.1", "--data-dir", "/flag", "--allow-http-upstreams"], env);
    expect(config.port).toBe(9100);
    expect(config.host).toBe("127.0.0.1");
    expect(config.dataDir).toBe("/flag");
    expect(config.allowHttpUpstreams).toBe(true);
    // Options without a flag keep the env value.
    expect(config.logLevel).toBe("error");
  });

  test("an empty env value means unset", () => {
    expect(load([], { KEYWARD_PORT: "", KEYWARD_MASTER_KEY: "" })).toMatchObject({ port: 8080, masterKey: undefined });
  });

  test("boolean env values", () => {
    for (const yes of ["1", "true", "TRUE", "yes", "on"]) {
      expect(load([], { KEYWARD_ALLOW_HTTP_UPSTREAMS: yes }).allowHttpUpstreams).toBe(true);
    }
    for (const no of ["0", "false", "no", "off"]) {
      expect(load([], { KEYWARD_ALLOW_HTTP_UPSTREAMS: no }).allowHttpUpstreams).toBe(false);
    }
  });

  test("port 0 (pick a free one) and 65535 are accepted", () => {
    expect(load(["--port", "0"]).port).toBe(0);
    expect(load(["--port", "65535"]).port).toBe(65535);
  });

  test("bad flag values throw ConfigError naming the flag", () => {
    const cases: Array<[string[], string]> = [
      [["--port", "65536"], "--port"],
      [["--port=-1"], "--port"],
      [["--port", "80a"], "--port"],
      [["--port", "8.5"], "--port"],
      [["--host", ""], "--host"],
      [["--log-format", "xml"], "--log-format"],
      [["--log-level", "verbose"], "--log-level"],
      [["--upstream-timeout", "0"], "--upstream-timeout"],
      [["--upstream-timeout", "3601"], "--upstream-timeout"],
      [["--max-body-size", "1023"], "--max-body-size"],
      [["--shutdown-timeout", "ten"], "--shutdown-timeout"],
    ];
    for (const [args, name] of cases) {
      expect(configError(() => load(args))).toContain(`Invalid ${name}`);
    }
  });

  test("bad env values throw ConfigError naming the variable", () => {
    const cases: Array<[Env, string]> = [
      [{ KEYWARD_PORT: "http" }, "KEYWARD_PORT"],
      [{ KEYWARD_PORT: "99999" }, "KEYWARD_PORT"],
      [{ KEYWARD_ALLOW_HTTP_UPSTREAMS: "maybe" }, "KEYWARD_ALLOW_HTTP_UPSTREAMS"],
      [{ KEYWARD_LOG_FORMAT: "xml" }, "KEYWARD_LOG_FORMAT"],
      [{ KEYWARD_LOG_LEVEL: "trace" }, "KEYWARD_LOG_LEVEL"],
      [{ KEYWARD_UPSTREAM_TIMEOUT: "1.5" }, "KEYWARD_UPSTREAM_TIMEOUT"],
      [{ KEYWARD_MAX_BODY_SIZE: "1e9" }, "KEYWARD_MAX_BODY_SIZE"],
      [{ KEYWARD_SHUTDOWN_TIMEOUT: "-1" }, "KEYWARD_SHUTDOWN_TIMEOUT"],
    ];
    for (const [env, name] of cases) {
      const message = configError(() => load([], env));
      expect(message).toContain(`Invalid ${name}`);
      expect(message).toContain(String(Object.values(env)[0]));
    }
  });

  test("a good flag does not hide a bad env value for another option", () => {
    expect(configError(() => load(["--port", "9000"], { KEYWARD_LOG_LEVEL: "loud" }))).toContain("KEYWARD_LOG_LEVEL");
  });

  test("a good flag overrides a bad env value for the same option", () => {
    expect(load(["--port", "9000"], { KEYWARD_PORT: "nope" }).port).toBe(9000);
  });

  test("unknown flags and missing values are ConfigErrors", () => {
    expect(configError(() => load(["--nope"]))).toBe("Unknown option --nope (see --help)");
    expect(configError(() => load(["-x"]))).toContain("Unknown option -x");
    expect(configError(() => load(["--master-key", "abc"]))).toContain("Unknown option --master-key");
    expect(configError(() => load(["--port"]))).toBe("Missing value for --port");
    // parseArgs' own wording, but still a one-line ConfigError naming the flag.
    expect(configError(() => load(["--port", "-1"]))).toContain("--port");
  });

  test("secrets have no flag: the master key and admin token come from env only", () => {
    const flagNames = SERVE_OPTIONS.map((s) => s.flag as string);
    expect(flagNames).not.toContain("master-key");
    expect(flagNames).not.toContain("admin-token");
  });
});
