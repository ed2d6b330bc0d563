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

/** One labelled counter value; the proxy keeps these to count without building label strings per request. */
export interface CounterCell {
  value: number;
}

class Counter {
  private readonly cells = new Map<string, CounterCell>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  cell(labels: Labels = {}): CounterCell {
    const key = labelKey(labels);
    let cell = this.cells.get(key);
    if (!cell) {
      cell = { value: 0 };
      this.cells.set(key, cell);
    }
    return cell;
  }
  inc(labels: Labels = {}, by = 1): void {
    this.cell(labels).value += by;
  }
  /** Shows these series at 0 before anything counts them, so a dashboard sees the metric from the start. */
  seed(series: Labels[]): this {
    for (const labels of series) this.cell(labels);
    return this;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [key, cell] of this.cells) lines.push(`${this.name}${key ? `{${key}}` : ""} ${cell.value}`);
    return lines.join("\n");
  }
}

/** One labelled histogram series, kept by the proxy like a CounterCell. */
export class HistogramSeries {
  readonly buckets: number[];
  sum = 0;
  count = 0;
  constructor(private readonly bounds: readonly number[]) {
    this.buckets = bounds.map(() => 0);
  }
  observe(value: number): void {
    for (let i = 0; i < this.bounds.length; i++) if (value <= (this.bounds[i] as number)) this.buckets[i] = (this.buckets[i] ?? 0) + 1;
    this.sum += value;
    this.count++;
  }
}

class Histogram {
  private readonly series = new Map<string, HistogramSeries>();
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: number[] = LATENCY_BUCKETS,
  ) {}
  seriesFor(labels: Labels): HistogramSeries {
    const key = labelKey(labels);
    let s = this.series.get(key);
    if (!s) {
      s = new HistogramSeries(this.bounds);
      this.series.set(key, s);
    }
    return s;
  }
  observe(labels: Labels, value: number): void {
    this.seriesFor(labels).observe(value);
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

/** A provider's series, resolved once: a proxied request then updates numbers, not label maps. */
export interface ProviderMetrics {
  status(code: number): CounterCell;
  latency: HistogramSeries;
  ttfb: HistogramSeries;
  inputTokens: CounterCell;
  outputTokens: CounterCell;
  cost: CounterCell;
}

export class Metrics {
  private readonly providers = new Map<string, ProviderMetrics>();
  readonly requests = new Counter("keyward_requests_total", "Proxied requests by provider and status");
  readonly latency = new Histogram("keyward_request_duration_seconds", "Proxied request duration, to the end of the body");
  readonly ttfb = new Histogram("keyward_time_to_first_byte_seconds", "Time to the first upstream body byte");
  readonly tokens = new Counter("keyward_tokens_total", "Tokens by provider and direction (input, output)");
  readonly cost = new Counter("keyward_cost_usd_total", "Settled cost in USD by provider");
  readonly authFailures = new Counter("keyward_auth_failures_total", "Proxy requests refused at authentication, by reason");
  readonly rejections = new Counter("keyward_limit_rejections_total", "Proxy requests refused by a limit, by limit");
  readonly overruns = new Counter("keyward_budget_overruns_total", "Requests that cost more than their reservation (an upstream ignored a cap)");
  readonly overrunCost = new Counter("keyward_budget_overrun_usd_total", "Cost beyond the reservations, in USD");
  readonly webhookDropped = new Counter(
    "keyward_webhook_events_dropped_total",
    "Webhook events given up, by reason: age (not delivered within the age limit) or outbox_full (beyond the outbox bound)",
  ).seed([{ reason: "age" }, { reason: "outbox_full" }]);
  readonly webhookAttempts = new Counter("keyward_webhook_deliveries_total", "Webhook delivery attempts, by result (delivered, failed)").seed([
    { result: "delivered" },
    { result: "failed" },
  ]);
  activeStreams = 0;

  /** `provider` is an enumeration ("openai", …, or "none" before a key is known), so this map stays small. */
  forProvider(provider: string): ProviderMetrics {
    let p = this.providers.get(provider);
    if (!p) {
      const statuses = new Map<number, CounterCell>();
      p = {
        status: (code) => {
          let cell = statuses.get(code);
          if (!cell) {
            cell = this.requests.cell({ provider, status: String(code) });
            statuses.set(code, cell);
          }
          return cell;
        },
        latency: this.latency.seriesFor({ provider }),
        ttfb: this.ttfb.seriesFor({ provider }),
        inputTokens: this.tokens.cell({ provider, direction: "input" }),
        outputTokens: this.tokens.cell({ provider, direction: "output" }),
        cost: this.cost.cell({ provider }),
      };
      this.providers.set(provider, p);
    }
    return p;
  }

  render(gauges: { logQueueDepth: number }): string {
    return [
      this.requests.render(),
      this.latency.render(),
      this.ttfb.render(),
      this.tokens.render(),
      this.cost.render(),
      this.authFailures.render(),
      this.rejections.render(),
      this.overruns.render(),
      this.overrunCost.render(),
      this.webhookDropped.render(),
      this.webhookAttempts.render(),
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
