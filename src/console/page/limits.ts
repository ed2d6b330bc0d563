/**
 * Limit fields, shared by the forms that set them: minting a key or a batch
 * (budget, rpm, lifetime), and creating or editing a key or a team (every
 * limit a key and a team have alike, prefilled when editing).
 */
import type { VNode } from "preact";
import { changed, list, num, sameList, splitList, value } from "./forms.ts";
import { html } from "./html.ts";
import { Field } from "./ui.ts";

export const PERIODS = ["total", "daily", "weekly", "monthly"] as const;

/** The limits a proxy key and a team share, as the API shows them. */
export interface Limits {
  budget_usd: number | null;
  budget_period: string;
  rpm: number | null;
  tpm: number | null;
  max_concurrency: number | null;
  allowed_models: string[] | null;
}

function PeriodSelect(props: { id: string; current?: string }): VNode {
  return html`<select id=${props.id} name="budget_period">
    ${PERIODS.map((v) => html`<option value=${v} selected=${v === props.current}>${v}</option>`)}
  </select>`;
}

/** Minting: budget, rpm and lifetime. */
export function MintLimitFields(props: { prefix: string }): VNode {
  const p = props.prefix;
  return html`<${Field} label="Budget (USD, optional)" id=${`${p}-budget`}><input id=${`${p}-budget`} name="budget_usd" type="number" min="0" step="0.01" /><//>
    <${Field} label="Budget period" id=${`${p}-period`}><${PeriodSelect} id=${`${p}-period`} /><//>
    <${Field} label="Requests per minute (optional)" id=${`${p}-rpm`}><input id=${`${p}-rpm`} name="rpm" type="number" min="1" step="1" /><//>
    <${Field} label="Expires after, hours (optional)" id=${`${p}-ttl`}><input id=${`${p}-ttl`} name="ttl_hours" type="number" min="0.01" step="any" /><//>`;
}

/** The mint form's limits, team and lifetime as the create body's fields (absent when left empty). */
export function mintBody(form: HTMLFormElement): Record<string, unknown> {
  const budget = num(form, "budget_usd");
  const rpm = num(form, "rpm");
  const ttl = num(form, "ttl_hours");
  const team = value(form, "team_id");
  return {
    ...(budget !== undefined ? { budget_usd: budget, budget_period: value(form, "budget_period") } : {}),
    ...(rpm !== undefined ? { rpm } : {}),
    ...(ttl !== undefined ? { ttl_seconds: Math.round(ttl * 3600) } : {}),
    ...(team ? { team_id: team } : {}),
  };
}

const fmt = (n: number | null | undefined): string => (n === null || n === undefined ? "" : String(n));

/**
 * Every shared limit, prefilled from `current` when editing; an emptied field
 * removes the limit. Prefills are `defaultValue`s: Preact re-applies a `value`
 * on every render, which would wipe what was typed whenever a list reloads.
 */
export function LimitFields(props: { prefix: string; current?: Limits }): VNode {
  const p = props.prefix;
  const c = props.current;
  const hint = c ? "Empty: no limit." : undefined;
  return html`<${Field} label="Budget (USD)" id=${`${p}-budget`} hint=${hint}
      ><input
        id=${`${p}-budget`}
        name="budget_usd"
        type="number"
        min="0"
        step="0.01"
        defaultValue=${fmt(c?.budget_usd)}
        aria-describedby=${hint ? `${p}-budget-hint` : undefined}
    /><//>
    <${Field} label="Budget period" id=${`${p}-period`}><${PeriodSelect} id=${`${p}-period`} current=${c?.budget_period} /><//>
    <${Field} label="Requests per minute" id=${`${p}-rpm`}><input id=${`${p}-rpm`} name="rpm" type="number" min="1" step="1" defaultValue=${fmt(c?.rpm)} /><//>
    <${Field} label="Tokens per minute" id=${`${p}-tpm`}><input id=${`${p}-tpm`} name="tpm" type="number" min="1" step="1" defaultValue=${fmt(c?.tpm)} /><//>
    <${Field} label="Requests at once" id=${`${p}-conc`}
      ><input id=${`${p}-conc`} name="max_concurrency" type="number" min="1" step="1" defaultValue=${fmt(c?.max_concurrency)}
    /><//>
    <${Field} label="Allowed models (comma-separated; empty: any)" id=${`${p}-models`}
      ><input id=${`${p}-models`} name="allowed_models" defaultValue=${(c?.allowed_models ?? []).join(", ")}
    /><//>`;
}

/** The limits filled in, for a create body: empty fields are left out. */
export function limitsBody(form: HTMLFormElement): Record<string, unknown> {
  const budget = num(form, "budget_usd");
  const fields: Record<string, unknown> = {
    rpm: num(form, "rpm"),
    tpm: num(form, "tpm"),
    max_concurrency: num(form, "max_concurrency"),
    allowed_models: list(form, "allowed_models"),
    ...(budget !== undefined ? { budget_usd: budget, budget_period: value(form, "budget_period") } : {}),
  };
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}

/** The limits that differ from `current`, for a PATCH: an emptied field is null (the API removes that limit). */
export function limitsPatch(form: HTMLFormElement, current: Limits): Record<string, unknown> {
  const period = value(form, "budget_period");
  const models = splitList(value(form, "allowed_models"));
  return {
    budget_usd: changed(current.budget_usd, num(form, "budget_usd")),
    budget_period: period !== current.budget_period ? period : undefined,
    rpm: changed(current.rpm, num(form, "rpm")),
    tpm: changed(current.tpm, num(form, "tpm")),
    max_concurrency: changed(current.max_concurrency, num(form, "max_concurrency")),
    allowed_models: changed(current.allowed_models, models.length === 0 ? undefined : models, sameList),
  };
}

/** "60 rpm · 100000 tpm · 4 at once · gpt-4o-mini": a limit set's one-line summary. */
export function limitSummary(l: Limits): string {
  const parts = [
    l.rpm !== null ? `${l.rpm} rpm` : "",
    l.tpm !== null ? `${l.tpm} tpm` : "",
    l.max_concurrency !== null ? `${l.max_concurrency} at once` : "",
    l.allowed_models ? l.allowed_models.join(", ") : "",
  ].filter((s) => s !== "");
  return parts.length === 0 ? "—" : parts.join(" · ");
}
