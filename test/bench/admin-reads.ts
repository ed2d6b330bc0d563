export {};

/**
 * Admin reads back to back for a while, from a process of its own: scenario
 * 8 starts it at nice 10, so that on the 2-core VM the client's own parsing
 * of the answers (a dashboard's, on another machine in real use) does not
 * take a core from keyward's serving thread and show up as proxy latency.
 *
 * Usage: bun admin-reads.ts URL TOKEN MS PATH… ; prints the number of reads.
 */
const [url, token, ms, ...paths] = process.argv.slice(2);
if (!url || !token || !ms || paths.length === 0) throw new Error("usage: admin-reads.ts URL TOKEN MS PATH…");
const until = performance.now() + Number(ms);
let reads = 0;
while (performance.now() < until) {
  const response = await fetch(`${url}${paths[reads % paths.length]}`, { headers: { authorization: `Bearer ${token}` } });
  await response.arrayBuffer();
  if (response.status !== 200) throw new Error(`${paths[reads % paths.length]}: ${response.status}`);
  reads++;
}
console.log(reads);
