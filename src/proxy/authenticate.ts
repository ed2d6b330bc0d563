import type { Clock } from "../clock.ts";
import type { ProxyKeyRow, TeamRow } from "../db/store.ts";
import { keyIdOf, parseKey } from "../vault/key-format.ts";
import type { PreviousSecret, SecretVerifier } from "../vault/verifier.ts";
import { readCredential } from "./credentials.ts";
import { ProxyError } from "./errors.ts";
import type { CachedProviderKey, KeyCache } from "./key-cache.ts";

export interface Authenticated {
  proxyKey: ProxyKeyRow;
  providerKey: CachedProviderKey;
  /** The key's team, whose limits apply too; absent for a key without one. */
  team?: TeamRow;
}

const invalid = (why: string) => new ProxyError("invalid_api_key", `Cannot verify proxy key: ${why}`);

/**
 * The refusals a flood of wrong or made-up keys gets, built once: an Error
 * costs a stack capture and its answer a JSON serialisation, and neither
 * differs from one refusal to the next (nothing reads their stacks).
 */
const NO_KEY = invalid("no key given; send it as Authorization: Bearer kwp_…");
const KEY_INVALID = invalid("key is invalid");
const KEY_MALFORMED = invalid("key is malformed (expected kwp_…)");
const KEY_REVOKED = invalid("key is revoked");

/**
 * Finds and verifies the proxy key a request carries, then checks its state,
 * cheapest step first so that a flood of bad keys costs little. A
 * token this process has verified before matches its cached SHA-256 and goes
 * straight to the status checks; another token for that id is refused on the
 * spot (unless a rotation's old secret, in its grace, has not been seen yet);
 * any other is checked for shape and checksum (no I/O), then its cached
 * record, then argon2 (against the current hash, and the replaced one during
 * a grace). Unknown ids and wrong
 * secrets get the same message so the answer does not reveal which ids exist.
 */
export function authenticate(
  headers: Headers,
  cache: KeyCache,
  verifier: SecretVerifier,
  clock: Clock,
  /** The client's address: a flood of wrong secrets throttles its sender, not the key (see SecretVerifier). */
  client?: string,
): Authenticated | Promise<Authenticated> {
  const credential = readCredential(headers);
  if (credential === undefined) {
    throw NO_KEY;
  }
  // Synchronous for a known token: no promise on the path every request takes.
  const id = keyIdOf("proxy", credential);
  if (id !== undefined) {
    const cached = verifier.checkCached(id, credential);
    if (cached === true) return keyState(id, cache, clock);
    // An id whose valid tokens are all known, with another token: wrong however it was made, so refused
    // here, synchronously, with no second hash. Only its shape still decides which message it gets.
    if (cached === false && parseKey("proxy", credential)) throw KEY_INVALID;
  }
  return verifyFirst(credential, cache, verifier, clock, client);
}

async function verifyFirst(credential: string, cache: KeyCache, verifier: SecretVerifier, clock: Clock, client: string | undefined): Promise<Authenticated> {
  const parsed = parseKey("proxy", credential);
  if (!parsed) throw KEY_MALFORMED;
  // A rotation while argon2 ran makes its answer stale: checked again once against the rotated row.
  for (let tries = 0; tries < 2; tries++) {
    const row = cache.proxyKey(parsed.id);
    if (!row) throw KEY_INVALID;
    const outcome = await verifier.verify({
      id: parsed.id,
      token: parsed.token,
      secret: parsed.secret,
      phc: row.secretHash,
      previous: previousSecret(row),
      client,
    });
    if (outcome === "valid") {
      // Read again after the argon2 run: an admin may have revoked or deleted the key meanwhile.
      return keyState(parsed.id, cache, clock);
    }
    if (outcome !== "stale") break;
  }
  throw KEY_INVALID;
}

/** The secret a rotation replaced, while the row says it may still be accepted (the verifier checks the time). */
function previousSecret(row: ProxyKeyRow): PreviousSecret | undefined {
  if (row.previousSecretHash === null || row.previousSecretExpiresAt === null) return undefined;
  return { phc: row.previousSecretHash, expiresAt: row.previousSecretExpiresAt };
}

/** Whether a key whose secret is verified may be used now: not revoked, not expired, its provider key enabled. */
function keyState(id: string, cache: KeyCache, clock: Clock): Authenticated {
  const current = cache.proxyKey(id);
  if (!current) throw KEY_INVALID;
  if (current.revokedAt !== null) throw KEY_REVOKED;
  if (current.expiresAt !== null && current.expiresAt <= clock.now()) {
    throw invalid(`key expired at ${new Date(current.expiresAt).toISOString()}`);
  }
  const providerKey = cache.providerKey(current.providerKeyId);
  if (!providerKey) throw KEY_INVALID;
  if (providerKey.row.disabled) {
    throw new ProxyError("provider_key_disabled", "Cannot forward request: the provider key behind this proxy key is disabled");
  }
  if (current.teamId === null) return { proxyKey: current, providerKey };
  return { proxyKey: current, providerKey, team: teamOf(current.teamId, cache) };
}

/** The key's team, if it may be used: a disabled team refuses every key of it, and a team that cannot be found fails closed. */
function teamOf(teamId: string, cache: KeyCache): TeamRow {
  const team = cache.team(teamId);
  if (!team) throw new ProxyError("team_disabled", "Cannot forward request: this key's team no longer exists");
  if (team.disabled) throw new ProxyError("team_disabled", `Cannot forward request: this key's team ${team.name} is disabled; an admin can enable it`);
  return team;
}
