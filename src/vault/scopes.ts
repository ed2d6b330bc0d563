/**
 * What an admin token may do: `admin` everything, `keys:issue` mint proxy keys
 * within its issuer policy, `read` listings, usage and logs. Tokens and issuer
 * policies both name scopes, so the list lives apart from either.
 */
export const SCOPES = ["admin", "keys:issue", "read"] as const;
export type Scope = (typeof SCOPES)[number];

export function isScope(value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value);
}
