/**
 * CPU time the hypervisor gave to other guests ("steal", /proc/stat), per
 * scenario. On a shared VM it arrives in bursts of a few milliseconds; a burst
 * lands on a handful of consecutive requests, which is exactly what a p99 of
 * a few hundred samples is made of. Reported so a reader can tell a slow tail
 * of keyward's from one of the machine's.
 */
import { readFileSync } from "node:fs";

export interface CpuTimes {
  steal: number;
  total: number;
}

/** The machine's aggregate CPU counters, or undefined off Linux. */
export function cpuTimes(): CpuTimes | undefined {
  try {
    const fields = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
    if (fields.length < 8 || fields.some((n) => !Number.isFinite(n))) return undefined;
    // user nice system idle iowait irq softirq steal [guest guest_nice], guests already counted in user/nice.
    return { steal: fields[7] as number, total: fields.slice(0, 8).reduce((a, b) => a + b, 0) };
  } catch {
    return undefined;
  }
}

/** Steal as a share of all CPU time between two readings. */
export function stealShare(before: CpuTimes | undefined, after: CpuTimes | undefined): number | undefined {
  if (!before || !after || after.total <= before.total) return undefined;
  return (after.steal - before.steal) / (after.total - before.total);
}
