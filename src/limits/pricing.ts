import type { Clock } from "../clock.ts";
import type { PriceRow, Store } from "../db/store.ts";
import { recordAudit, type ActorId } from "../changes/audit.ts";
import { usdToMicros } from "./money.ts";
import { BUILTIN_PRICES } from "./prices-builtin.ts";

/** Micro-dollars per million tokens. */
export interface Price {
  inputMicros: number;
  cachedInputMicros: number | null;
  outputMicros: number;
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

const DATE_SUFFIX = /-(\d{4}-\d{2}-\d{2}|\d{8}|latest)$/;

function fromBuiltin(name: string): Price | undefined {
  const p = BUILTIN_PRICES[name];
  if (!p) return undefined;
  return {
    inputMicros: usdToMicros(p.input),
    cachedInputMicros: p.cachedInput === undefined ? null : usdToMicros(p.cachedInput),
    outputMicros: usdToMicros(p.output),
  };
}

function fromRow(row: PriceRow): Price {
  return { inputMicros: row.inputMicros, cachedInputMicros: row.cachedInputMicros, outputMicros: row.outputMicros };
}

/**
 * Built-in prices plus admin overrides. Overrides live in SQLite but are
 * read into memory once and updated on write, so pricing a request does no
 * I/O. Resolution: exact name, then the name without a date or `-latest`
 * suffix, then the longest built-in `family` entry followed by `-`.
 */
export class PriceBook {
  private overrides = new Map<string, Price>();
  private readonly resolved = new Map<string, ResolvedPrice | null>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {
    for (const row of store.prices.all()) this.overrides.set(row.model, fromRow(row));
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
    let best: string | undefined;
    for (const [entry, p] of Object.entries(BUILTIN_PRICES)) {
      if (p.family && name.startsWith(`${entry}-`) && (!best || entry.length > best.length)) best = entry;
    }
    const price = best ? fromBuiltin(best) : undefined;
    return best && price ? { entry: best, source: "builtin", price } : undefined;
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

  /** Adds or replaces an override, audited in the same transaction. */
  set(actor: ActorId, model: string, price: Price): void {
    const now = this.clock.now();
    this.store.transaction((tx) => {
      tx.prices.upsert({ model, ...price, updatedAt: now });
      recordAudit(tx, actor, now, { action: "price.set", targetType: "price", targetId: model, details: { ...price } });
    });
    this.overrides.set(model, price);
    this.resolved.clear();
  }

  /** Removes an override (the built-in price, if any, applies again); `false` if there was none. */
  remove(actor: ActorId, model: string): boolean {
    if (!this.overrides.has(model)) return false;
    const now = this.clock.now();
    this.store.transaction((tx) => {
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
