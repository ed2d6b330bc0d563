import { t } from "elysia";
import type { AdminTokenRow } from "../../db/store.ts";
import { adminTokenStatus, SCOPES } from "../../vault/admin-tokens.ts";
import { iso, NO_CONTROL_CHARS, pageModel } from "../pagination.ts";

export const CreateAdminTokenBody = t.Object(
  {
    name: t.String({ minLength: 1, maxLength: 100, pattern: NO_CONTROL_CHARS, examples: ["ci-issuer"] }),
    scopes: t.Array(t.UnionEnum(SCOPES), {
      minItems: 1,
      maxItems: SCOPES.length,
      description: "`admin` does everything, `read` lists and reads, `keys:issue` mints proxy keys within a policy",
      examples: [["read"]],
    }),
    expires_at: t.Optional(t.String({ format: "date-time", examples: ["2027-01-01T00:00:00Z"] })),
  },
  { additionalProperties: false, title: "CreateAdminToken" },
);

const AdminTokenFields = {
  id: t.String({ examples: ["Qm3xT0aB7cD9"] }),
  name: t.String(),
  scopes: t.Array(t.String()),
  key_hint: t.String({ examples: ["kwa_Qm3xT0aB7cD9_…x2Lp"] }),
  status: t.UnionEnum(["active", "expired", "revoked"]),
  expires_at: t.Union([t.String({ format: "date-time" }), t.Null()]),
  revoked_at: t.Union([t.String({ format: "date-time" }), t.Null()]),
  created_by: t.Union([t.String(), t.Null()]),
  created_at: t.String({ format: "date-time" }),
};

export const AdminTokenView = t.Object(AdminTokenFields, { title: "AdminToken" });
export const CreatedAdminTokenView = t.Object(
  { ...AdminTokenFields, token: t.String({ description: "The full admin token. Shown only in this response." }) },
  { title: "CreatedAdminToken" },
);
export const AdminTokenPage = pageModel(AdminTokenView, "AdminTokenPage");

export function adminTokenView(row: AdminTokenRow, now: number) {
  return {
    id: row.id,
    name: row.name,
    scopes: row.scopes,
    key_hint: row.keyHint,
    status: adminTokenStatus(row, now),
    expires_at: iso(row.expiresAt),
    revoked_at: iso(row.revokedAt),
    created_by: row.createdBy,
    created_at: iso(row.createdAt) as string,
  };
}
