import { describe, expect, test } from "bun:test";
import { ConfigError, loadIssueConfig, loadServeConfig, parseArgsOptions, parseDuration, parseFlags, SERVE_OPTIONS } from "../../src/config.ts";

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("parseDuration", () => {
  test("units and bare seconds", () => {
    expect(parseDuration("90s", "--ttl")).toBe(90);
    expect(parseDuration("15m", "--ttl")).toBe(900);
    expect(parseDuration("1h", "--ttl")).toBe(3600);
    expect(parseDuration("2d", "--ttl")).toBe(172_800);
    expect(parseDuration("45", "--ttl")).toBe(45);
  });

  test("nonsense is a ConfigError naming the flag", () => {
    for (const bad of ["", "0", "0s", "1w", "1.5h", "-3", "h", "1 h x", "99999999999"]) {
      expect(configError(() => parseDuration(bad, "--ttl"))).toStartWith("Invalid --ttl");
    }
  });
});

describe("loadIssueConfig", () => {
  const base = { KEYWARD_URL: "https://keyward.example.com/", KEYWARD_ISSUER_TOKEN: "kwa_env" };

  test("token mode from env, flags win", () => {
    const config = loadIssueConfig({ "provider-key": "openai-ci", ttl: "1h", budget: "2.5", models: "a, b,", name: "ci-x" }, base);
    expect(config).toEqual({
      url: "https://keyward.example.com",
      format: "key",
      githubActions: false,
      mode: { kind: "token", token: "kwa_env", providerKey: "openai-ci", ttlSeconds: 3600, budgetUsd: 2.5, models: ["a", "b"], name: "ci-x" },
    });
    const flagged = loadIssueConfig(
      { url: "http://localhost:8080", token: "kwa_flag", "provider-key": "p", format: "env" },
      { ...base, GITHUB_ACTIONS: "true" },
    );
    expect(flagged).toMatchObject({ url: "http://localhost:8080", format: "env", githubActions: true, mode: { token: "kwa_flag" } });
  });

  test("oidc mode: GitHub's request variables, or a named variable", () => {
    const github = loadIssueConfig(
      { oidc: true, audience: "keyward" },
      { ...base, ACTIONS_ID_TOKEN_REQUEST_URL: "https://gh/token?x=1", ACTIONS_ID_TOKEN_REQUEST_TOKEN: "rt" },
    );
    expect(github.mode).toEqual({ kind: "oidc", idToken: { from: "github", requestUrl: "https://gh/token?x=1", requestToken: "rt", audience: "keyward" } });
    // The audience of a token read from a variable was chosen where it was made (GitLab's id_tokens).
    const gitlab = loadIssueConfig({ oidc: true, "id-token-env": "KEYWARD_ID_TOKEN" }, { ...base, KEYWARD_ID_TOKEN: " eyJ.x.y\n" });
    expect(gitlab.mode).toEqual({ kind: "oidc", idToken: { from: "env", name: "KEYWARD_ID_TOKEN", value: "eyJ.x.y" } });
  });

  test("usage mistakes", () => {
    expect(configError(() => loadIssueConfig({ "provider-key": "p" }, {}))).toContain("Missing --url");
    expect(configError(() => loadIssueConfig({ url: "ftp://x", "provider-key": "p" }, base))).toContain("scheme");
    expect(configError(() => loadIssueConfig({ "provider-key": "p" }, { KEYWARD_URL: "https://k" }))).toContain("Missing --token");
    expect(configError(() => loadIssueConfig({}, base))).toContain("Missing --provider-key");
    expect(configError(() => loadIssueConfig({ "provider-key": "p", budget: "lots" }, base))).toContain("Invalid --budget");
    expect(configError(() => loadIssueConfig({ "provider-key": "p", format: "yaml" }, base))).toContain("Invalid --format");
    expect(
      configError(() => loadIssueConfig({ oidc: true }, { ...base, ACTIONS_ID_TOKEN_REQUEST_URL: "https://gh", ACTIONS_ID_TOKEN_REQUEST_TOKEN: "t" })),
    ).toContain("Missing --audience");
    expect(configError(() => loadIssueConfig({ oidc: true, audience: "a", budget: "1" }, base))).toContain("Unexpected --budget with --oidc");
    expect(configError(() => loadIssueConfig({ oidc: true, audience: "a" }, base))).toContain("ACTIONS_ID_TOKEN_REQUEST_URL");
    expect(configError(() => loadIssueConfig({ oidc: true, audience: "a", "id-token-env": "NOPE" }, base))).toContain("NOPE");
    expect(configError(() => loadIssueConfig({ "provider-key": "p", audience: "a" }, base))).toContain("Unexpected --audience without --oidc");
  });
});

describe("expired-key retention", () => {
  const load = (args: string[], env: Record<string, string> = {}) => loadServeConfig(parseFlags(args, parseArgsOptions(SERVE_OPTIONS)).values, env);

  test("defaults to 30 days; flag and KEYWARD_EXPIRED_KEY_RETENTION_DAYS set it, flag first", () => {
    expect(load([]).expiredKeyRetentionDays).toBe(30);
    expect(load([], { KEYWARD_EXPIRED_KEY_RETENTION_DAYS: "7" }).expiredKeyRetentionDays).toBe(7);
    expect(load(["--expired-key-retention-days", "0"], { KEYWARD_EXPIRED_KEY_RETENTION_DAYS: "7" }).expiredKeyRetentionDays).toBe(0);
    expect(configError(() => load(["--expired-key-retention-days", "-1"]))).toContain("--expired-key-retention-days");
  });
});
