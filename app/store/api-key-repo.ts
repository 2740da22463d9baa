import type { Tier } from "../verdict/tiers.ts";
import type { SqlExecutor } from "./database.ts";

export type Role = "user" | "admin";

export interface ApiKeyRecord {
  readonly id: string;
  readonly userId: string;
  readonly tier: Tier;
  readonly role: Role;
  readonly createdAt: string;
  readonly revokedAt: string | null;
  readonly lastUsedAt: string | null;
}

interface ApiKeyRow {
  id: string;
  user_id: string;
  tier: Tier;
  role: Role;
  created_at: string;
  revoked_at: string | null;
  last_used_at: string | null;
}

const toRecord = (r: ApiKeyRow): ApiKeyRecord => ({
  id: r.id,
  userId: r.user_id,
  tier: r.tier,
  role: r.role,
  createdAt: r.created_at,
  revokedAt: r.revoked_at,
  lastUsedAt: r.last_used_at,
});

/** api_keys: only the SHA-256 of a key is stored; the key itself is shown once, at creation. */
export class ApiKeyRepo {
  constructor(private readonly db: SqlExecutor) {}

  async insert(tx: SqlExecutor, k: Omit<ApiKeyRecord, "revokedAt" | "lastUsedAt">, keyHash: string): Promise<void> {
    await tx.run("INSERT INTO api_keys (id, key_hash, user_id, tier, role, created_at) VALUES (?, ?, ?, ?, ?, ?)", [k.id, keyHash, k.userId, k.tier, k.role, k.createdAt]);
  }

  async byHash(keyHash: string): Promise<ApiKeyRecord | undefined> {
    const row = await this.db.get<ApiKeyRow>("SELECT * FROM api_keys WHERE key_hash = ?", [keyHash]);
    return row && toRecord(row);
  }

  async list(): Promise<ApiKeyRecord[]> {
    return (await this.db.all<ApiKeyRow>("SELECT * FROM api_keys ORDER BY created_at, id")).map(toRecord);
  }

  /** The revoked key; undefined when there is no such key or it was revoked already. */
  async revoke(tx: SqlExecutor, id: string, now: string): Promise<ApiKeyRecord | undefined> {
    const { changes } = await tx.run("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", [now, id]);
    if (changes !== 1) return undefined;
    const row = await tx.get<ApiKeyRow>("SELECT * FROM api_keys WHERE id = ?", [id]);
    return row && toRecord(row);
  }

  async touch(id: string, now: string): Promise<void> {
    await this.db.run("UPDATE api_keys SET last_used_at = ? WHERE id = ?", [now, id]);
  }
}
