import { spawn, type Subprocess } from "bun";
import { readdirSync, readFileSync } from "node:fs";

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

/** A process and all its descendants (the children of each of its threads, recursively), from /proc. */
export function processTree(pid: number): number[] {
  const pids = [pid];
  for (let i = 0; i < pids.length; i++) {
    const p = pids[i] as number;
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      continue; // gone meanwhile
    }
    for (const tid of tasks) {
      try {
        const children = readFileSync(`/proc/${p}/task/${tid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
        for (const c of children) pids.push(Number(c));
      } catch {
        /* thread gone meanwhile */
      }
    }
  }
  return pids;
}

/**
 * utime + stime of one /proc stat file, in clock ticks. For `/proc/<pid>/stat`
 * that is every thread of the process, those that have exited included; for
 * `/proc/<pid>/task/<tid>/stat`, one thread.
 */
export function statTicks(path: string): number {
  try {
    const stat = readFileSync(path, "utf8");
    // The command name (field 2) can hold spaces and parentheses: count fields after its closing one.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]); // fields 14 and 15 of proc(5): utime, stime
  } catch {
    return 0; // gone meanwhile
  }
}

/** Clock ticks per second, the unit of statTicks (`getconf CLK_TCK`; 100 on Linux almost everywhere). */
export async function clockTicksPerSecond(): Promise<number> {
  try {
    const hz = Number((await run(["getconf", "CLK_TCK"])).trim());
    return Number.isFinite(hz) && hz > 0 ? hz : 100;
  } catch {
    return 100;
  }
}

/**
 * CPU of a process tree in clock ticks: every live process in it (all
 * threads), plus what the root's children that already exited used (its
 * cutime + cstime). A tree whose root forks and reaps workers (PostgreSQL's
 * backends, autovacuum) is then counted whole between two readings, workers
 * that came and went between them included.
 */
export function treeTicks(root: number): number {
  let reaped = 0;
  try {
    const stat = readFileSync(`/proc/${root}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    reaped = Number(fields[13]) + Number(fields[14]); // fields 16 and 17 of proc(5): cutime, cstime
  } catch {
    return 0; // gone
  }
  return reaped + processTree(root).reduce((sum, pid) => sum + statTicks(`/proc/${pid}/stat`), 0);
}
