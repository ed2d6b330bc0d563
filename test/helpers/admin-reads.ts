export {};

/**
 * Admin reads back to back for a while, from a process of its own that the
 * caller starts at low priority (`adminReadsCommand`): on a 2-core VM the
 * client's own parsing of the answers (a dashboard's, on another machine in
 * real use) would otherwise take a core from keyward's serving thread and
 * show up as proxy latency. Each path is read, then its `next_cursor`
 * followed for up to PAGES further pages, so cursors are read under load
 * too. Any answer but 200 ends it with exit code 1.
 *
 * Usage: bun admin-reads.ts URL TOKEN MS PAGES PATH… ; prints the number of reads.
 */
const [url, token, ms, pages, ...paths] = process.argv.slice(2);
if (!url || !token || !ms || !pages || paths.length === 0) throw new Error("usage: admin-reads.ts URL TOKEN MS PAGES PATH…");

async function read(path: string): Promise<string | null> {
  const response = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  const text = await response.text();
  if (response.status !== 200) {
    console.error(`${path}: ${response.status} ${text.slice(0, 300)}`);
    process.exit(1);
  }
  return Number(pages) > 0 ? ((JSON.parse(text) as { next_cursor?: string | null }).next_cursor ?? null) : null;
}

const until = performance.now() + Number(ms);
let reads = 0;
for (let round = 0; performance.now() < until; round++) {
  const path = paths[round % paths.length] as string;
  let cursor = await read(path);
  reads++;
  for (let page = 0; page < Number(pages) && cursor !== null && performance.now() < until; page++) {
    cursor = await read(`${path}${path.includes("?") ? "&" : "?"}cursor=${encodeURIComponent(cursor)}`);
    reads++;
  }
}
console.log(reads);
