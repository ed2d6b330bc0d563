/**
 * Drives latency-probe.ts: proxied requests timed one at a time in a process
 * of their own, for the whole of a run, then sliced by the moments the
 * caller marked (an operation's start and end).
 */
import { spawn, type Subprocess } from "bun";
import { join } from "node:path";

export type Sample = [startedAt: number, ms: number, status: number];

export interface Probe {
  /** The upstream the probe serves; point the proxied key's provider key here. */
  upstream: string;
  start(url: string, key: string): void;
  stop(): Promise<Sample[]>;
}

/** Now, on the clock the probe stamps its samples with. */
export const stamp = () => performance.timeOrigin + performance.now();

async function readLine(reader: ReadableStreamDefaultReader<Uint8Array>, buffered: { text: string }): Promise<string> {
  const decoder = new TextDecoder();
  for (;;) {
    const newline = buffered.text.indexOf("\n");
    if (newline >= 0) {
      const line = buffered.text.slice(0, newline);
      buffered.text = buffered.text.slice(newline + 1);
      return line;
    }
    const { value, done } = await reader.read();
    if (done) throw new Error(`latency probe ended: ${buffered.text}`);
    buffered.text += decoder.decode(value, { stream: true });
  }
}

export async function startProbe(): Promise<Probe> {
  const proc: Subprocess<"pipe", "pipe", "inherit"> = spawn(["bun", join(import.meta.dir, "latency-probe.ts")], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "inherit",
  });
  const reader = proc.stdout.getReader();
  const buffered = { text: "" };
  const { upstream } = JSON.parse(await readLine(reader, buffered)) as { upstream: string };
  const send = (command: unknown) => {
    void proc.stdin.write(`${JSON.stringify(command)}\n`);
    void proc.stdin.flush();
  };
  let stopped: Promise<Sample[]> | undefined;
  return {
    upstream,
    start: (url, key) => send({ start: { url, key } }),
    stop() {
      stopped ??= (async () => {
        send({ stop: true });
        const { samples } = JSON.parse(await readLine(reader, buffered)) as { samples: Sample[] };
        await proc.exited;
        return samples;
      })();
      return stopped;
    },
  };
}

/** Latencies (ms) of the requests started in [from, to). */
export function during(samples: Sample[], from: number, to: number): number[] {
  return samples.filter(([at]) => at >= from && at < to).map(([, ms]) => ms);
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

/**
 * `admin-reads.ts` as a command at nice 19: the admin client stands for a dashboard on another machine, so
 * on a 2-core VM it must not take the cores the proxied requests being timed would use.
 */
export function adminReadsCommand(opts: { url: string; token: string; ms: number; pages: number; paths: string[] }): string[] {
  return ["nice", "-n", "19", "bun", join(import.meta.dir, "admin-reads.ts"), opts.url, opts.token, String(opts.ms), String(opts.pages), ...opts.paths];
}
