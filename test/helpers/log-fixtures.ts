/**
 * The request log's fixture for comparing backends (test/integration/pg-request-log.test.ts):
 * varied rows over twenty days, the keys and teams they name, as statements both SQLite and
 * PostgreSQL run (`?` placeholders), and usage windows on and off every bucket's edge.
 */
import { DAY, HOUR, type LogRowValues } from "../../src/db/request-log-sql.ts";
import type { TimeWindow } from "../../src/db/store.ts";
import { prng, seedRow, type SeedShape } from "./seed-log.ts";

// Twenty days that start and end off every bucket's edge (eight-day buckets included).
export const T0 = Date.UTC(2026, 0, 3, 7, 23, 41, 5);
export const T1 = T0 + 20 * DAY + 5 * HOUR + 17_003;
export const SHAPE: SeedShape = {
  rows: 4_000,
  from: T0,
  to: T1,
  proxyKeyIds: ["kA", "kB", "kC", "kD", "kE"],
  providerKeyOf: (k) => (k < 3 ? "pv1" : "pv2"),
  // Bytewise, "Claude-3" sorts before "amazon-nova"; linguistically, after.
  models: ["gpt-4o", "gpt-4o-mini", "o3", "amazon-nova", "Claude-3", null],
};

/** Folded refusals, upstream errors, overruns, rows on hours' edges, rows without a key, two providers. */
export function seedRows(): LogRowValues[] {
  const random = prng(17);
  return Array.from({ length: SHAPE.rows }, (_, i) => {
    const row = seedRow(SHAPE, i, random);
    if (i % 5 === 0) row[0] -= row[0] % HOUR;
    if (i % 97 === 0) row[2] = null;
    if (i % 7 === 0) row[4] = "anthropic";
    if (i % 41 === 0) [row[8], row[16]] = [499, "client_closed"];
    if (i % 53 === 0) row[18] = 250 + i;
    return row;
  });
}

export type SetupValue = string | null | Uint8Array;

const PROVIDER_KEY =
  "INSERT INTO provider_keys (id, name, provider, base_url, key_version, nonce, ciphertext, key_hint, created_at, updated_at) VALUES (?, ?, 'openai', 'https://api.openai.com/v1', 1, ?, ?, 'sk-…', 1, 1)";
const TEAM = "INSERT INTO teams (id, name, created_at, updated_at) VALUES (?, ?, 1, 1)";
const PROXY_KEY =
  "INSERT INTO proxy_keys (id, name, provider_key_id, secret_hash, key_hint, created_at, updated_at, team_id) VALUES (?, ?, ?, 'x', 'kw-…', 1, 1, ?)";

/** Keys and teams in both databases: kE is deleted (its rows sum under no team), kD has no team; "tB" sorts first bytewise only. */
export const SETUP: [string, SetupValue[]][] = [
  ...["pv1", "pv2"].map((id): [string, SetupValue[]] => [PROVIDER_KEY, [id, id, new Uint8Array(12), new Uint8Array(4)]]),
  ...["tB", "ta"].map((id): [string, SetupValue[]] => [TEAM, [id, id]]),
  ...(
    [
      ["kA", "pv1", "tB"],
      ["kB", "pv1", "ta"],
      ["kC", "pv1", "ta"],
      ["kD", "pv2", null],
    ] as const
  ).map(([id, providerKeyId, teamId]): [string, SetupValue[]] => [PROXY_KEY, [id, id, providerKeyId, teamId]]),
];

/** Windows on and off the edges of hours, days and eight-day buckets, open at either end, tiny, empty and reversed. */
export function windows(seed: number): TimeWindow[] {
  const random = prng(seed);
  const at = () => Math.floor(T0 - DAY + random() * (T1 - T0 + 2 * DAY));
  const fixed: TimeWindow[] = [
    {},
    { from: T0 },
    { to: T1 },
    { from: Date.UTC(2026, 0, 5), to: Date.UTC(2026, 0, 19) },
    { from: 2_557 * 8 * DAY, to: 2_559 * 8 * DAY },
    { from: Date.UTC(2026, 0, 4, 13), to: Date.UTC(2026, 0, 20, 2) },
    { from: Date.UTC(2026, 0, 9, 10, 15), to: Date.UTC(2026, 0, 9, 10, 45) },
    { from: Date.UTC(2026, 0, 9, 10, 15), to: Date.UTC(2026, 0, 9, 12, 45) },
    { from: Date.UTC(2026, 0, 9, 10), to: Date.UTC(2026, 0, 9, 10) },
    { from: Date.UTC(2026, 0, 12), to: Date.UTC(2026, 0, 11) },
    { from: Date.UTC(2027, 0, 1) },
  ];
  const drawn = Array.from({ length: 24 }, (): TimeWindow => {
    const [a, b] = [at(), at()].sort((x, y) => x - y) as [number, number];
    const shape = random();
    return shape < 0.15 ? { from: a } : shape < 0.3 ? { to: b } : { from: a, to: b };
  });
  return [...fixed, ...drawn];
}
