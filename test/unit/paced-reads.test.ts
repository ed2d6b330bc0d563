/**
 * The admin API's reads, paced (src/admin/paced-reads.ts): a burst goes at
 * once, later reads wait their turn in order, and a quiet spell gives the
 * burst back. The clock is the test's; the waits are real timers.
 */
import { expect, test } from "bun:test";
import { PacedReads } from "../../src/admin/paced-reads.ts";
import { InlineReads } from "../../src/db/reads.ts";
import type { Store } from "../../src/db/store.ts";

/** The order reads started in; the store is never touched. */
const started: number[] = [];
const handlers = { echo: (_store: Store, n: number) => (started.push(n), n) };

test("a burst goes at once; the reads after it wait their turn, in the order asked", async () => {
  let now = 0;
  const paced = new PacedReads<typeof handlers>(new InlineReads(handlers, {} as Store), { burst: 3, intervalMs: 20 }, () => now);
  const answers = [1, 2, 3, 4, 5].map((n) => paced.read("echo", n));
  // Three started before any timer ran; the fourth and fifth only after theirs.
  expect(started).toEqual([1, 2, 3]);
  expect(await Promise.all(answers)).toEqual([1, 2, 3, 4, 5]);
  expect(started).toEqual([1, 2, 3, 4, 5]);
  // The clock stood still, so the bucket is two turns in debt: the next read waits, it does not start now.
  const sixth = paced.read("echo", 6);
  expect(started.length).toBe(5);
  await sixth;
  // After a quiet spell of ten intervals the bucket is full again (three, not ten).
  now += 20 * 10;
  const burst = [7, 8, 9, 10].map((n) => paced.read("echo", n));
  expect(started.slice(6)).toEqual([7, 8, 9]);
  await Promise.all(burst);
  expect(started.slice(6)).toEqual([7, 8, 9, 10]);
});

test("a read that runs longer than a turn costs as many turns as it ran: back to back, long reads get a pause between them", async () => {
  let now = 0;
  const order: string[] = [];
  const long = {
    // Each runs for three turns of the clock.
    step: (_store: Store, name: string) => {
      order.push(name);
      now += 60;
      return name;
    },
  };
  const paced = new PacedReads<typeof long>(new InlineReads(long, {} as Store), { burst: 2, intervalMs: 20 }, () => now);
  await paced.read("step", "first");
  await paced.read("step", "second");
  // The clock moved 120 ms, which refilled six turns, but the two reads used them: the third waits for its turn.
  const third = paced.read("step", "third");
  expect(order).toEqual(["first", "second"]);
  expect(await third).toBe("third");
});
