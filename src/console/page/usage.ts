/**
 * Usage: spend per UTC day, stacked by model, proxy key or team. GET
 * /api/usage groups by one dimension at a time (day OR model) and has no
 * filter, so the page asks group_by=<stack> once per day of the range (days
 * end on the hour, as the API wants for rollups), then stacks the series
 * itself: the biggest spenders each get a band, the rest one "other" band.
 */
import type { VNode } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import { api, query, type Page } from "./api.ts";
import { html } from "./html.ts";
import { ErrorText, Field, Table, useLoad, usd, when } from "./ui.ts";

interface UsageRow {
  model?: string | null;
  proxy_key_id?: string | null;
  team_id?: string | null;
  requests: number;
  errors: number;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
}

const DAY = 86_400_000;
const COLORS = ["#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2", "#65a30d", "#dc2626"];

/** What the bands of the chart are. */
type Stack = "model" | "proxy_key" | "team";
const STACK_LABEL: Record<Stack, string> = { model: "model", proxy_key: "proxy key", team: "team" };
const bandOf: Record<Stack, (row: UsageRow) => string> = {
  model: (row) => row.model ?? "(none)",
  proxy_key: (row) => row.proxy_key_id ?? "(none)",
  team: (row) => row.team_id ?? "(no team)",
};
/** More bands than this are unreadable: the smaller spenders share one. */
const MAX_BANDS = 8;
const OTHER = "(other)";

interface Daily {
  stack: Stack;
  days: number[];
  /** Band names, biggest spender first. */
  models: string[];
  /** cost[band][day] */
  cost: number[][];
  top: UsageRow[];
}

async function loadDaily(range: number, stack: Stack): Promise<Daily> {
  const end = Math.floor(Date.now() / DAY) * DAY + DAY;
  const days = Array.from({ length: range }, (_, i) => end - (range - i) * DAY);
  const perDay = await Promise.all(
    days.map((from) =>
      api<Page<UsageRow>>("GET", `/api/usage${query({ group_by: stack, from: new Date(from).toISOString(), to: new Date(from + DAY).toISOString() })}`),
    ),
  );
  const band = bandOf[stack];
  const totals = new Map<string, number>();
  for (const row of perDay.flatMap((p) => p.data)) totals.set(band(row), (totals.get(band(row)) ?? 0) + row.cost_usd);
  const ranked = [...totals].toSorted((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([name]) => name);
  const shown = ranked.length > MAX_BANDS ? ranked.slice(0, MAX_BANDS - 1) : ranked;
  const models = ranked.length > shown.length ? [...shown, OTHER] : shown;
  const bandName = (row: UsageRow) => (shown.includes(band(row)) ? band(row) : OTHER);
  const cost = models.map((m) => perDay.map((p) => p.data.filter((r) => bandName(r) === m).reduce((s, r) => s + r.cost_usd, 0)));
  const keys = await api<Page<UsageRow>>(
    "GET",
    `/api/usage${query({ group_by: "proxy_key", from: new Date(days[0] ?? end).toISOString(), to: new Date(end).toISOString() })}`,
  );
  const top = keys.data.toSorted((a, b) => b.cost_usd - a.cost_usd).slice(0, 10);
  return { stack, days, models, cost, top };
}

function Chart(props: { daily: Daily }): VNode {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const { days, models, cost } = props.daily;
    // Stacked: series i draws the sum of models 0..i; drawn top first so each lower band paints over the one above.
    const stacked: number[][] = [];
    let running = days.map(() => 0);
    for (const row of cost) {
      running = running.map((v, i) => v + (row[i] ?? 0));
      stacked.push(running);
    }
    const order = models.map((_, i) => i).toReversed();
    const bars = uPlot.paths.bars?.({ size: [0.7, 60] });
    const chart = new uPlot(
      {
        width: Math.max(320, el.clientWidth || 800),
        height: 320,
        title: `Spend per day (USD), stacked by ${STACK_LABEL[props.daily.stack]}`,
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
        axes: [{}, { values: (_u, ticks) => ticks.map((t) => `$${t.toFixed(2)}`), size: 70 }],
        series: [
          { label: "Day (UTC)" },
          ...order.map((i) => ({
            label: models[i] ?? "",
            fill: COLORS[i % COLORS.length],
            stroke: COLORS[i % COLORS.length],
            paths: bars,
            points: { show: false },
            value: (_u: uPlot, _v: number | null, _s: number, idx: number | null) => (idx === null ? "—" : usd(cost[i]?.[idx] ?? 0)),
          })),
        ],
      },
      [days.map((d) => d / 1000), ...order.map((i) => stacked[i] ?? [])],
      el,
    );
    el.dataset.series = String(models.length);
    el.dataset.drawn = "true";
    return () => chart.destroy();
  }, [props.daily]);
  return html`<div
    class="chart"
    ref=${box}
    role="img"
    aria-label=${`Spend per day, stacked by ${STACK_LABEL[props.daily.stack]}; the same figures are in the table below`}
  ></div>`;
}

export function Usage(): VNode {
  const [range, setRange] = useState(7);
  const [stack, setStack] = useState<Stack>("model");
  const daily = useLoad(() => loadDaily(range, stack), [range, stack]);
  const d = daily.data;
  const totals = d ? d.days.map((day, i) => ({ day, cost: d.cost.reduce((s, row) => s + (row[i] ?? 0), 0) })) : [];
  return html`<section aria-labelledby="us-title">
    <h2 id="us-title">Usage</h2>
    <div class="filters row">
      <${Field} label="Range" id="us-range">
        <select id="us-range" value=${String(range)} onChange=${(e: Event) => setRange(Number((e.currentTarget as HTMLSelectElement).value))}>
          <option value="7">Last 7 days</option>
          <option value="14">Last 14 days</option>
          <option value="30">Last 30 days</option>
        </select>
      <//>
      <${Field} label="Stack by" id="us-stack">
        <select id="us-stack" value=${stack} onChange=${(e: Event) => setStack((e.currentTarget as HTMLSelectElement).value as Stack)}>
          <option value="model">Model</option>
          <option value="proxy_key">Proxy key</option>
          <option value="team">Team</option>
        </select>
      <//>
    </div>
    <${ErrorText} error=${daily.error} />
    ${d ? html`<${Chart} daily=${d} />` : html`<p role="status">Loading…</p>`}
    ${
      d
        ? html`<${Table}
              caption="Spend per day"
              rows=${totals.filter((t) => t.cost > 0)}
              empty="No spend in this range."
              columns=${[
                { title: "Day (UTC)", cell: (t: { day: number }) => new Date(t.day).toISOString().slice(0, 10) },
                { title: "Spend", cell: (t: { cost: number }) => usd(t.cost) },
              ]}
            />
            <${Table}
              caption="Top keys by spend"
              rows=${d.top}
              empty="No keys spent in this range."
              columns=${[
                { title: "Proxy key", cell: (r: UsageRow) => html`<code>${r.proxy_key_id ?? "—"}</code>` },
                { title: "Requests", cell: (r: UsageRow) => r.requests },
                { title: "Errors", cell: (r: UsageRow) => r.errors },
                { title: "Tokens in / out", cell: (r: UsageRow) => `${r.input_tokens} / ${r.output_tokens}` },
                { title: "Spend", cell: (r: UsageRow) => usd(r.cost_usd) },
              ]}
            />`
        : null
    }
  </section>`;
}

interface LogEntry {
  id: number;
  at: string;
  proxy_key_id: string | null;
  model: string | null;
  method: string;
  path: string;
  status: number;
  cost_usd: number;
  latency_ms: number;
  error_code: string | null;
  count: number;
}

export function Logs(): VNode {
  const [filters, setFilters] = useState<Record<string, string>>({});
  const [pages, setPages] = useState<string[]>([]);
  const cursor = pages.at(-1);
  const list = useLoad(() => api<Page<LogEntry>>("GET", `/api/logs${query({ ...filters, limit: 50, cursor })}`), [filters, cursor]);
  const apply = (e: Event): void => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    const next: Record<string, string> = {};
    for (const [k, v] of form.entries()) if (typeof v === "string" && v.trim()) next[k] = v.trim();
    setPages([]);
    setFilters(next);
  };
  return html`<section aria-labelledby="lg-title">
    <h2 id="lg-title">Request log</h2>
    <form class="filters row" onSubmit=${apply} aria-label="Filter the request log">
      <${Field} label="Proxy key id" id="lg-key"><input id="lg-key" name="proxy_key_id" /><//>
      <${Field} label="Model" id="lg-model"><input id="lg-model" name="model" /><//>
      <${Field} label="Status" id="lg-status"><input id="lg-status" name="status" type="number" min="100" max="599" /><//>
      <button type="submit">Filter</button>
    </form>
    <${ErrorText} error=${list.error} />
    <${Table}
      caption="Requests, newest first"
      rows=${list.data?.data ?? []}
      empty="No requests match."
      columns=${[
        { title: "At", cell: (r: LogEntry) => when(r.at) },
        { title: "Key", cell: (r: LogEntry) => html`<code>${r.proxy_key_id ?? "—"}</code>` },
        { title: "Request", cell: (r: LogEntry) => `${r.method} ${r.path}` },
        { title: "Model", cell: (r: LogEntry) => r.model ?? "—" },
        { title: "Status", cell: (r: LogEntry) => `${r.status}${r.error_code ? ` ${r.error_code}` : ""}${r.count > 1 ? ` ×${r.count}` : ""}` },
        { title: "Cost", cell: (r: LogEntry) => usd(r.cost_usd) },
        { title: "Latency", cell: (r: LogEntry) => `${r.latency_ms} ms` },
      ]}
    />
    <div class="row">
      <button type="button" class="secondary" disabled=${pages.length === 0} onClick=${() => setPages([])}>Newest</button>
      <button type="button" class="secondary" disabled=${!list.data?.next_cursor} onClick=${() => setPages([...pages, list.data?.next_cursor ?? ""])}>
        Older
      </button>
    </div>
  </section>`;
}
