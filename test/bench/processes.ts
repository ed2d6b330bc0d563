import { spawn, type Subprocess } from "bun";
import { readFileSync } from "node:fs";

export interface Child {
  proc: Subprocess<"ignore", "pipe", "inherit">;
  url: string;
  stop(): Promise<void>;
}

/** Starts a helper script that prints its URL as the first stdout line. */
export async function startScript(args: string[], env: Record<string, string> = {}): Promise<Child> {
  const proc = spawn(["bun", ...args], { stdin: "ignore", stdout: "pipe", stderr: "inherit", env: { ...process.env, ...env } });
  const reader = proc.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`${args.join(" ")} exited before printing its URL`);
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return {
    proc,
    url: text.trim().split("\n")[0] as string,
    async stop() {
      proc.kill();
      await proc.exited;
    },
  };
}

/** Resident set size of a process in MB, from /proc. */
export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  return kb / 1024;
}

/** The supervised keyward server is the binary's child; find it by parent pid. */
export function childPid(parent: number): number {
  const children = readFileSync(`/proc/${parent}/task/${parent}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
  return children.length > 0 ? Number(children[0]) : parent;
}

/** Runs a command to completion and returns its stdout. */
export async function run(cmd: string[], env: Record<string, string> = {}): Promise<string> {
  const proc = spawn(cmd, { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`${cmd.join(" ")} failed (${code}): ${err}`);
  return out;
}
