/**
 * `--config FILE`: TOML or JSON with the flag names (kebab or snake case),
 * validated like flags, below flags and env in precedence; `config check`'s
 * sources; the TLS pair; `--log-format auto`.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, type Env, parseArgsOptions, parseFlags, resolveServeConfig, SERVE_OPTIONS } from "../../src/config.ts";
import { pickLogFormat } from "../../src/telemetry/logger.ts";

const dir = mkdtempSync(join(tmpdir(), "keyward-config-file-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function file(ext: string, text: string): string {
  const path = join(dir, `c${n++}.${ext}`);
  writeFileSync(path, text);
  return path;
}

function resolve(args: string[], env: Env = {}) {
  return resolveServeConfig(parseFlags(args, parseArgsOptions(SERVE_OPTIONS)).values, env);
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

describe("config file", () => {
  test("TOML with kebab-case and snake_case keys, typed values", () => {
    const path = file(
      "toml",
      'port = 9100\nhost = "127.0.0.1"\ndata_dir = "/srv/keyward"\nallow-http-upstreams = true\nlog_level = "warn"\nshutdown-timeout = 5\nmetrics_token = "m"\n',
    );
    const { config, options } = resolve(["--config", path]);
    expect(config).toMatchObject({
      port: 9100,
      host: "127.0.0.1",
      dataDir: "/srv/keyward",
      allowHttpUpstreams: true,
      logLevel: "warn",
      shutdownTimeoutMs: 5000,
      metricsToken: "m",
    });
    const port = options.find((o) => o.flag === "port");
    expect(port).toMatchObject({ value: 9100, source: "file", origin: path });
    expect(options.find((o) => o.flag === "metrics-token")?.secret).toBe(true);
    expect(options.find((o) => o.flag === "log-format")).toMatchObject({ value: "auto", source: "default" });
  });

  test("JSON works the same, and strings are coerced like flag text", () => {
    const path = file("json", JSON.stringify({ port: "9200", trust_proxy: "yes", "upstream-timeout": 7 }));
    expect(resolve(["--config", path]).config).toMatchObject({ port: 9200, trustProxy: true, upstreamTimeoutMs: 7000 });
  });

  test("precedence: flags > env > file > defaults, with the source of each value", () => {
    const path = file("toml", 'port = 9300\nhost = "10.0.0.1"\nlog-level = "error"\n');
    const { config, options } = resolve(["--config", path, "--port", "9400"], { KEYWARD_PORT: "9500", KEYWARD_HOST: "127.0.0.2" });
    expect(config.port).toBe(9400);
    expect(config.host).toBe("127.0.0.2");
    expect(config.logLevel).toBe("error");
    expect(config.maxBodyBytes).toBe(20 * 1024 * 1024);
    const source = (flag: string) => options.find((o) => o.flag === flag)?.source;
    expect([source("port"), source("host"), source("log-level"), source("max-body-size")]).toEqual(["flag", "env", "file", "default"]);
  });

  test("KEYWARD_CONFIG names the file when --config is absent", () => {
    const path = file("toml", "port = 9600\n");
    expect(resolve([], { KEYWARD_CONFIG: path }).config.port).toBe(9600);
  });

  test("an unknown key is an error naming it (and the file)", () => {
    const path = file("toml", "prot = 9000\n");
    const message = configError(() => resolve(["--config", path]));
    expect(message).toContain('unknown key "prot"');
    expect(message).toContain(path);
    // Secrets are never read from a file: they are not flags, so not keys either.
    expect(configError(() => resolve(["--config", file("toml", 'master_key = "x"\n')]))).toContain('unknown key "master_key"');
    expect(configError(() => resolve(["--config", file("json", '{"config": "other.toml"}')]))).toContain('unknown key "config"');
  });

  test("values are validated like flags, naming the key and the file", () => {
    const cases: Array<[string, string, string]> = [
      ["toml", 'port = "abc"\n', "Invalid port in"],
      ["toml", "port = 70000\n", "Invalid port in"],
      ["toml", "port = true\n", "Invalid port in"],
      ["toml", 'log_format = "xml"\n', "Invalid log-format in"],
      ["toml", 'allow_http_upstreams = "maybe"\n', "Invalid allow-http-upstreams in"],
      ["toml", "max-body-size = 10\n", "Invalid max-body-size in"],
      ["toml", 'host = ""\n', "Invalid host in"],
      ["toml", "[server]\nport = 1\n", 'unknown key "server"'],
      ["toml", "port = [1]\n", "Invalid port in"],
      ["json", '{"port": [1]}', "Invalid port in"],
    ];
    for (const [ext, text, expected] of cases) {
      const path = file(ext, text);
      const message = configError(() => resolve(["--config", path]));
      expect(message).toContain(expected);
      expect(message).toContain(path);
    }
  });

  test("unreadable, unparsable and wrongly named files are errors", () => {
    expect(configError(() => resolve(["--config", join(dir, "missing.toml")]))).toContain("no such file");
    expect(configError(() => resolve(["--config", file("toml", "port = = 1\n")]))).toContain("Cannot parse config file");
    expect(configError(() => resolve(["--config", file("json", "{port: 1}")]))).toContain("Cannot parse config file");
    expect(configError(() => resolve(["--config", file("yaml", "port: 1\n")]))).toContain("expected a .toml or .json file");
    expect(configError(() => resolve(["--config", file("json", "[1]")]))).toContain("expected a table");
  });
});

describe("TLS and proxy options", () => {
  test("--tls-cert and --tls-key go together", () => {
    expect(resolve(["--tls-cert", "/c.pem", "--tls-key", "/k.pem"]).config.tls).toEqual({ certFile: "/c.pem", keyFile: "/k.pem" });
    expect(resolve([]).config.tls).toBeUndefined();
    expect(configError(() => resolve(["--tls-cert", "/c.pem"]))).toContain("Invalid --tls-cert: --tls-key");
    expect(configError(() => resolve([], { KEYWARD_TLS_KEY: "/k.pem" }))).toContain("Invalid KEYWARD_TLS_KEY: --tls-cert");
    const path = file("toml", 'tls_cert = "/c.pem"\n');
    expect(configError(() => resolve(["--config", path]))).toContain(`Invalid tls-cert in ${path}`);
  });

  test("--trust-proxy is off unless asked for", () => {
    expect(resolve([]).config.trustProxy).toBe(false);
    expect(resolve(["--trust-proxy"]).config.trustProxy).toBe(true);
    expect(resolve([], { KEYWARD_TRUST_PROXY: "1" }).config.trustProxy).toBe(true);
  });

  test("--log-format auto: pretty on a terminal, JSON otherwise; explicit values win", () => {
    expect(pickLogFormat("auto", { stderrIsTty: true })).toBe("pretty");
    expect(pickLogFormat("auto", { stderrIsTty: false })).toBe("json");
    expect(pickLogFormat("json", { stderrIsTty: true })).toBe("json");
    expect(pickLogFormat("pretty", { stderrIsTty: false })).toBe("pretty");
  });
});
