import { LRUCache } from "lru-cache";
import type { Finding } from "../verdict/findings.ts";
import type { EngineRun } from "../verdict/scoring.ts";
import type { EngineName } from "../verdict/tiers.ts";

export interface CachedEngines {
  readonly findings: readonly Finding[];
  readonly engines: Readonly<Partial<Record<EngineName, EngineRun>>>;
}

/**
 * What the engines after validation said about some bytes, keyed by SHA-256, tier, tenant and
 * every engine version, so a new database or rule set misses the cache by construction.
 * Only complete, error-free runs are stored.
 */
export class ResultCache {
  private readonly lru: LRUCache<string, CachedEngines> | null;

  constructor(maxEntries: number, ttlMs: number) {
    this.lru = maxEntries > 0 ? new LRUCache({ max: maxEntries, ttl: ttlMs }) : null;
  }

  static key(parts: { sha256: string; tier: string; tenantId?: string; versions: Readonly<Record<string, { readonly label: string }>> }): string {
    const versions = Object.entries(parts.versions)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${v.label}`)
      .join(";");
    return `${parts.sha256}|${parts.tier}|${parts.tenantId ?? ""}|${versions}`;
  }

  get(key: string): CachedEngines | undefined {
    return this.lru?.get(key);
  }

  set(key: string, value: CachedEngines): void {
    this.lru?.set(key, value);
  }
}
