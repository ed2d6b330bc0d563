/**
 * Prometheus metrics kept in memory and rendered as text exposition format.
 * Labels carry ids and enumerations only, never names or secrets.
 */

type Labels = Record<string, string>;

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

const PLAIN = /^[\w.:/-]*$/;

function escapeLabel(value: string): string {
  return PLAIN.test(value) ? value : value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** Callers pass labels in a fixed order per metric, so no sorting is needed on the hot path. */
function labelKey(labels: Labels): string {
  let key = "";
  for (const name in labels) {
    key += `${key ? "," : ""}${name}="${escapeLabel(String(labels[name]))}"`;
  }
  return key;
}

class Counter {
  readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1): void {
    const key = labelKey(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [key, value] of this.values) lines.push(`${this.name}${key ? `{${key}}` : ""} ${value}`);
    return lines.join("\n");
  }
}

class Histogram {
  private readonly series = new Map<string, { buckets: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: number[] = LATENCY_BUCKETS,
  ) {}
  observe(labels: Labels, value: number): void {
    const key = labelKey(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { buckets: new Array(this.bounds.length).fill(0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    for (let i = 0; i < this.bounds.length; i++) if (value <= (this.bounds[i] as number)) s.buckets[i] = (s.buckets[i] ?? 0) + 1;
    s.sum += value;
    s.count++;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [key, s] of this.series) {
      const prefix = key ? `${key},` : "";
      this.bounds.forEach((b, i) => lines.push(`${this.name}_bucket{${prefix}le="${b}"} ${s.buckets[i]}`));
      lines.push(`${this.name}_bucket{${prefix}le="+Inf"} ${s.count}`);
      lines.push(`${this.name}_sum${key ? `{${key}}` : ""} ${s.sum}`);
      lines.push(`${this.name}_count${key ? `{${key}}` : ""} ${s.count}`);
    }
    return lines.join("\n");
  }
}

export class Metrics {
  readonly requests = new Counter("keyward_requests_total", "Proxied requests by provider and status");
  readonly latency = new Histogram("keyward_request_duration_seconds", "Proxied request duration, to the end of the body");
  readonly ttfb = new Histogram("keyward_time_to_first_byte_seconds", "Time to the first upstream body byte");
  readonly tokens = new Counter("keyward_tokens_total", "Tokens by provider and direction (input, output)");
  readonly cost = new Counter("keyward_cost_usd_total", "Settled cost in USD by provider");
  readonly authFailures = new Counter("keyward_auth_failures_total", "Proxy requests refused at authentication, by reason");
  readonly rejections = new Counter("keyward_limit_rejections_total", "Proxy requests refused by a limit, by limit");
  activeStreams = 0;

  render(gauges: { logQueueDepth: number }): string {
    return [
      this.requests.render(),
      this.latency.render(),
      this.ttfb.render(),
      this.tokens.render(),
      this.cost.render(),
      this.authFailures.render(),
      this.rejections.render(),
      "# HELP keyward_active_streams Responses currently streaming to clients",
      "# TYPE keyward_active_streams gauge",
      `keyward_active_streams ${this.activeStreams}`,
      "# HELP keyward_request_log_queue_depth Request-log rows waiting to be written",
      "# TYPE keyward_request_log_queue_depth gauge",
      `keyward_request_log_queue_depth ${gauges.logQueueDepth}`,
      "",
    ].join("\n");
  }
}
