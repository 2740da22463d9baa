import { createHash, randomBytes } from "node:crypto";
import { AuthError } from "../errors/auth-error.ts";
import { NotFoundError } from "../errors/not-found-error.ts";
import type { ApiKeyRecord, Role } from "../store/api-key-repo.ts";
import type { Store } from "../store/store.ts";
import type { AuthFailures } from "./auth-failures.ts";
import type { Tier } from "../verdict/tiers.ts";

/** Who a request acts for, from its API key. */
/** `Authorization: Bearer <key>`; anything else is no key. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer ([^\s]+)$/i.exec(header ?? "");
  return m?.[1];
}

export interface Principal {
  readonly keyId: string;
  readonly userId: string;
  readonly tier: Tier;
  readonly role: Role;
}

const KEY = /^msd_[A-Za-z0-9_-]{43}$/;
const TOUCH_EVERY_MS = 60_000;

const hashKey = (key: string) => createHash("sha256").update(key).digest("hex");

/**
 * API keys: 256 random bits, shown once, stored as SHA-256 (a slow hash adds nothing for
 * keys this long). Creation and revocation are audited; failed authentications are audited
 * as periodic counted summaries (AuthFailures), so requests without a key write nothing.
 */
export class ApiKeys {
  private readonly touched = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly failures: Pick<AuthFailures, "note">,
  ) {}

  async create(input: { userId: string; tier: Tier; role: Role }, actor: string): Promise<{ record: ApiKeyRecord; key: string }> {
    const key = `msd_${randomBytes(32).toString("base64url")}`;
    const now = new Date().toISOString();
    const record: ApiKeyRecord = { id: `key_${randomBytes(8).toString("hex")}`, ...input, createdAt: now, revokedAt: null, lastUsedAt: null };
    await this.store.db.transaction(async (tx) => {
      await this.store.apiKeys.insert(tx, record, hashKey(key));
      await this.store.audit.append(tx, { actor, action: "key_create", detail: { keyId: record.id, userId: record.userId, tier: record.tier, role: record.role } }, now);
    });
    return { record, key };
  }

  list(): Promise<ApiKeyRecord[]> {
    return this.store.apiKeys.list();
  }

  async revoke(id: string, actor: string): Promise<ApiKeyRecord> {
    const now = new Date().toISOString();
    const revoked = await this.store.db.transaction(async (tx) => {
      const record = await this.store.apiKeys.revoke(tx, id, now);
      if (record) await this.store.audit.append(tx, { actor, action: "key_revoke", detail: { keyId: id, userId: record.userId } }, now);
      return record;
    });
    if (!revoked) throw new NotFoundError("KEY_NOT_FOUND", `no active API key ${id}`);
    return revoked;
  }

  /** The principal of a presented key; an AuthError, audited, for a missing, unknown or revoked one. */
  async authenticate(presented: string | undefined, origin: { readonly ip: string; readonly route: string }): Promise<Principal> {
    const record = presented && KEY.test(presented) ? await this.store.apiKeys.byHash(hashKey(presented)) : undefined;
    if (!record || record.revokedAt) {
      const code = !presented ? "MISSING_API_KEY" : record ? "REVOKED_API_KEY" : "INVALID_API_KEY";
      this.failures.note(code, record?.id ?? null, origin);
      throw new AuthError(code);
    }
    this.touch(record.id);
    return { keyId: record.id, userId: record.userId, tier: record.tier, role: record.role };
  }

  /** last_used_at at most once a minute per key: a write per request would queue behind scans. */
  private touch(id: string): void {
    const now = Date.now();
    if (now - (this.touched.get(id) ?? 0) < TOUCH_EVERY_MS) return;
    this.touched.set(id, now);
    void this.store.apiKeys.touch(id, new Date(now).toISOString()).catch(() => this.touched.delete(id));
  }
}
