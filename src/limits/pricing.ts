import type { Clock } from "../clock.ts";
import type { PriceRow, Store } from "../db/store.ts";
import { recordAudit, type ActorId } from "../changes/audit.ts";
import { usdToMicros } from "./money.ts";
import { BUILTIN_PRICES, type BuiltinRates } from "./prices-builtin.ts";

/** Rates for the whole request once its input exceeds a threshold (Gemini 2.5 Pro, Claude Sonnet 4/4.5 with 1M context). */
export interface LongContextRates {
  aboveInputTokens: number;
  inputMicros: number;
  outputMicros: number;
  /** Cached reads past the threshold; the long-context input rate when absent. */
  cachedInputMicros?: number;
}

/** Micro-dollars per million tokens. */
export interface Rates {
  inputMicros: number;
  cachedInputMicros: number | null;
  outputMicros: number;
  longContext?: LongContextRates;
}

export interface Price extends Rates {
  /**
   * Rates for non-standard tiers by name (`priority`, `flex`). Only built-in
   * entries carry them: an admin override is a standard rate, so a tier the
   * override cannot price is refused rather than charged the standard rate.
   */
  tiers?: Readonly<Record<string, Rates>>;
}

export interface ResolvedPrice {
  /** The table entry that priced the model (`gpt-4o` for `gpt-4o-2024-08-06`). */
  entry: string;
  source: "builtin" | "override";
  price: Price;
}

export interface PriceListing extends ResolvedPrice {
  model: string;
}

/**
 * Only a date names a snapshot of the same model. `-latest` is not stripped:
 * an alias may move to a differently priced model.
 */
const DATE_SUFFIX = /-(\d{4}-\d{2}-\d{2}|\d{8})$/;

function ratesFromUsd(r: BuiltinRates): Rates {
  const rates: Rates = {
    inputMicros: usdToMicros(r.input),
    cachedInputMicros: r.cachedInput === undefined ? null : usdToMicros(r.cachedInput),
    outputMicros: usdToMicros(r.output),
  };
  const long = r.longContext;
  if (long) {
    rates.longContext = {
      aboveInputTokens: long.aboveInputTokens,
      inputMicros: usdToMicros(long.input),
      outputMicros: usdToMicros(long.output),
      ...(long.cachedInput === undefined ? {} : { cachedInputMicros: usdToMicros(long.cachedInput) }),
    };
  }
  return rates;
}

function fromBuiltin(name: string): Price | undefined {
  // Own keys only: a model named `constructor` or `toString` is not priced by Object.prototype.
  if (!Object.hasOwn(BUILTIN_PRICES, name)) return undefined;
  const p = BUILTIN_PRICES[name];
  if (!p) return undefined;
  const price: Price = ratesFromUsd(p);
  if (p.tiers) {
    price.tiers = Object.fromEntries(Object.entries(p.tiers).map(([tier, rates]) => [tier, ratesFromUsd(rates)]));
  }
  return price;
}

function fromRow(row: PriceRow): Price {
  return { inputMicros: row.inputMicros, cachedInputMicros: row.cachedInputMicros, outputMicros: row.outputMicros };
}

/**
 * Built-in prices plus admin overrides. Overrides live in SQLite but are
 * read into memory once and updated on write, so pricing a request does no
 * I/O. Resolution: the exact name, then the name without a date suffix
 * (`-2024-08-06`, `-20250929`); an override beats a built-in at each step.
 * No prefix matching: `gpt-5-pro` is not `gpt-5`, and a model with no entry
 * stays unpriced.
 */
export class PriceBook {
  private overrides = new Map<string, Price>();
  private readonly resolved = new Map<string, ResolvedPrice | null>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {
    this.reload();
  }

  /** Reads the overrides again: another instance sharing the database changed them. */
  reload(): void {
    this.overrides = new Map(this.store.prices.all().map((row) => [row.model, fromRow(row)]));
    this.resolved.clear();
  }

  resolve(model: string): ResolvedPrice | undefined {
    const cached = this.resolved.get(model);
    if (cached !== undefined) return cached ?? undefined;
    const found = this.lookup(model);
    if (this.resolved.size > 10_000) this.resolved.clear();
    this.resolved.set(model, found ?? null);
    return found;
  }

  private lookup(model: string): ResolvedPrice | undefined {
    const name = model.startsWith("models/") ? model.slice("models/".length) : model;
    const candidates = [name, name.replace(DATE_SUFFIX, "")];
    for (const candidate of candidates) {
      const override = this.overrides.get(candidate);
      if (override) return { entry: candidate, source: "override", price: override };
      const builtin = fromBuiltin(candidate);
      if (builtin) return { entry: candidate, source: "builtin", price: builtin };
    }
    return undefined;
  }

  list(): PriceListing[] {
    const out = new Map<string, PriceListing>();
    for (const name of Object.keys(BUILTIN_PRICES)) {
      const price = fromBuiltin(name);
      if (price) out.set(name, { model: name, entry: name, source: "builtin", price });
    }
    for (const [name, price] of this.overrides) out.set(name, { model: name, entry: name, source: "override", price });
    return [...out.values()].sort((a, b) => a.model.localeCompare(b.model));
  }

  /** Adds or replaces an override, audited in the same write; memory follows once it is committed. */
  async set(actor: ActorId, model: string, price: Price): Promise<void> {
    const now = this.clock.now();
    await this.store.write((tx) => {
      tx.prices.upsert({ model, ...price, updatedAt: now });
      recordAudit(tx, actor, now, { action: "price.set", targetType: "price", targetId: model, details: { ...price } });
    });
    this.overrides.set(model, price);
    this.resolved.clear();
  }

  /** Removes an override (the built-in price, if any, applies again); `false` if there was none. */
  async remove(actor: ActorId, model: string): Promise<boolean> {
    if (!this.overrides.has(model)) return false;
    const now = this.clock.now();
    await this.store.write((tx) => {
      tx.prices.delete(model);
      recordAudit(tx, actor, now, { action: "price.delete", targetType: "price", targetId: model });
    });
    this.overrides.delete(model);
    this.resolved.clear();
    return true;
  }

  isOverride(model: string): boolean {
    return this.overrides.has(model);
  }
}
