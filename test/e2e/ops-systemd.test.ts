/**
 * `keyward systemd-unit`: the unit's settings, and `systemd-analyze verify`
 * on it where systemd is installed (skipped with a message elsewhere).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn } from "bun";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { runKeyward } from "../helpers/binary.ts";
import { Leftovers, opsBinary, type OpsBinary } from "../helpers/ops.ts";

const left = new Leftovers();
let binary: OpsBinary;

beforeAll(async () => {
  binary = await opsBinary(left);
});

afterAll(() => left.cleanupAll());

/** `Key=value` lines of the unit (comments dropped), as an ordered list. */
function settings(unit: string): string[] {
  return unit.split("\n").filter((l) => /^[A-Za-z]+=/.test(l));
}

describe("systemd-unit", () => {
  test("prints a hardened unit: dedicated user, state dir, credential, signals, timeouts", async () => {
    const result = await runKeyward([binary.bin, "systemd-unit"], { cwd: binary.dir });
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
    const lines = settings(result.stdout);
    for (const expected of [
      "User=keyward",
      "Group=keyward",
      "ExecStart=/usr/local/bin/keyward serve --data-dir /var/lib/keyward",
      "StateDirectory=keyward",
      "LoadCredential=master.key:/etc/keyward/master.key",
      "Environment=KEYWARD_MASTER_KEY_FILE=%d/master.key",
      "KillSignal=SIGTERM",
      "Restart=on-failure",
      "NoNewPrivileges=yes",
      "ProtectSystem=strict",
      "ProtectHome=yes",
      "PrivateTmp=yes",
      "PrivateDevices=yes",
      "ProtectKernelTunables=yes",
      "ProtectKernelModules=yes",
      "ProtectKernelLogs=yes",
      "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
      "LockPersonality=yes",
      "CapabilityBoundingSet=",
      "SystemCallArchitectures=native",
      "UMask=0077",
    ]) {
      expect(lines, expected).toContain(expected);
    }
    // Longer than the default --shutdown-timeout (30 s), or systemd kills a server still draining streams.
    const stopSec = Number(lines.find((l) => l.startsWith("TimeoutStopSec="))?.split("=")[1]);
    expect(stopSec).toBeGreaterThan(30);
    // Left out on purpose (the JIT writes then executes code), and the unit says why.
    expect(lines.some((l) => l.startsWith("MemoryDenyWriteExecute"))).toBe(false);
    expect(result.stdout).toMatch(/# MemoryDenyWriteExecute= is deliberately absent: .*JIT/);

    const custom = await runKeyward([binary.bin, "systemd-unit", "--binary", "/opt/keyward/bin/keyward", "--user", "kw"], { cwd: binary.dir });
    expect(settings(custom.stdout)).toEqual(expect.arrayContaining(["User=kw", "ExecStart=/opt/keyward/bin/keyward serve --data-dir /var/lib/keyward"]));
    const relative = await runKeyward([binary.bin, "systemd-unit", "--binary", "keyward"], { cwd: binary.dir });
    expect(relative.code).toBe(2);
    expect(relative.stderr).toContain("Invalid --binary");
  });

  test("systemd-analyze verify accepts it", async () => {
    const analyze = Bun.which("systemd-analyze");
    if (!analyze) {
      console.warn("!!! systemd-analyze is not installed (apt-get install systemd): skipping the unit verification");
      return;
    }
    // The real binary path, so verify can check ExecStart; root, since no keyward user exists here.
    const result = await runKeyward([binary.bin, "systemd-unit", "--binary", binary.bin, "--user", "root"], { cwd: binary.dir });
    const unit = join(left.dir(), "keyward.service");
    writeFileSync(unit, result.stdout);
    const proc = spawn([analyze, "verify", unit], { stdout: "pipe", stderr: "pipe" });
    const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    expect(code, stderr).toBe(0);
    // verify exits 0 on unknown or misspelled settings too, and only warns: any warning fails the test.
    expect(`${stdout}${stderr}`.trim()).toBe("");
  });
});
