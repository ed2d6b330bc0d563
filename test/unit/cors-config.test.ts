/** `--cors-origins`: a comma-separated list of origins, normalised as browsers send them; anything looser is refused. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, type Env, loadServeConfig, optionRows, parseArgsOptions, parseFlags, SERVE_OPTIONS } from "../../src/config.ts";

const load = (args: string[], env: Env = {}) => loadServeConfig(parseFlags(args, parseArgsOptions(SERVE_OPTIONS)).values, env);

const dir = mkdtempSync(join(tmpdir(), "keyward-cors-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("--cors-origins", () => {
  test("off by default", () => {
    expect(load([]).corsOrigins).toEqual([]);
  });

  test("origins are trimmed, lower-cased, stripped of a default port and a trailing slash, and deduplicated", () => {
    const origins = load(["--cors-origins", " https://App.Example.com:443/ ,http://localhost:5173,, https://app.example.com"]).corsOrigins;
    expect(origins).toEqual(["https://app.example.com", "http://localhost:5173"]);
  });

  test("from the environment and from a config file too", () => {
    expect(load([], { KEYWARD_CORS_ORIGINS: "https://a.example" }).corsOrigins).toEqual(["https://a.example"]);
    const file = join(dir, "keyward.toml");
    writeFileSync(file, 'cors_origins = "https://b.example,https://c.example:8443"\n');
    expect(load(["--config", file]).corsOrigins).toEqual(["https://b.example", "https://c.example:8443"]);
  });

  test("anything but an origin is refused, naming where it came from", () => {
    const cases: Array<[string, string]> = [
      ["*", "--cors-origins"],
      ["null", "--cors-origins"],
      ["app.example.com", "--cors-origins"],
      ["https://app.example.com/chat", "--cors-origins"],
      ["https://app.example.com?x=1", "--cors-origins"],
      ["https://app.example.com#x", "--cors-origins"],
      ["https://user:pw@app.example.com", "--cors-origins"],
      ["ftp://app.example.com", "--cors-origins"],
      [",", "--cors-origins"],
    ];
    for (const [value, source] of cases) {
      let message = "";
      try {
        load(["--cors-origins", value]);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        message = (err as Error).message;
      }
      expect([value, message.startsWith(`Invalid ${source}: `)]).toEqual([value, true]);
    }
    expect(() => load([], { KEYWARD_CORS_ORIGINS: "https://a.example/x" })).toThrow("Invalid KEYWARD_CORS_ORIGINS: ");
  });

  test("listed in --help", () => {
    expect(optionRows().some(([flag, env]) => flag === "--cors-origins <value>" && env === "KEYWARD_CORS_ORIGINS")).toBe(true);
  });
});
