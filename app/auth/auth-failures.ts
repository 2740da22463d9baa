import type { Store } from "../store/store.ts";

/** Distinct (IP, reason, key) summaries kept between two flushes; beyond that only counted. */
const MAX_SUMMARIES = 1000;
const MAX_ROUTES = 5;

interface Summary {
  readonly ip: string;
  readonly reason: string;
  readonly keyId: string | null;
  readonly first: string;
  last: string;
  count: number;
  readonly routes: Set<string>;
}

/**
 * Failed authentications, recorded as counted summaries per IP, reason and key: one audit row
 * for each summary per flush, never one per request, so a flood of bad keys costs memory
 * bounded by MAX_SUMMARIES and one transaction a period instead of an fsync per request.
 */
export class AuthFailures {
  private summaries = new Map<string, Summary>();
  private overflow = 0;

  constructor(private readonly store: Pick<Store, "db" | "audit">) {}

  note(reason: string, keyId: string | null, origin: { readonly ip: string; readonly route: string }, now = new Date()): void {
    const at = now.toISOString();
    const id = `${origin.ip}\0${reason}\0${keyId ?? ""}`;
    const known = this.summaries.get(id);
    if (known) {
      known.count++;
      known.last = at;
      if (known.routes.size < MAX_ROUTES) known.routes.add(origin.route);
    } else if (this.summaries.size < MAX_SUMMARIES) {
      this.summaries.set(id, { ip: origin.ip, reason, keyId, first: at, last: at, count: 1, routes: new Set([origin.route]) });
    } else {
      this.overflow++;
    }
  }

  /** Writes what was noted since the last flush, in one transaction; returns the requests it covered. */
  async flush(now = new Date()): Promise<number> {
    const batch = [...this.summaries.values()];
    const overflow = this.overflow;
    if (batch.length === 0 && overflow === 0) return 0;
    this.summaries = new Map();
    this.overflow = 0;
    const at = now.toISOString();
    await this.store.db.transaction(async (tx) => {
      for (const s of batch) {
        await this.store.audit.append(tx, { actor: "anonymous", action: "auth_failed", detail: { reason: s.reason, keyId: s.keyId, ip: s.ip, count: s.count, first: s.first, last: s.last, routes: [...s.routes].join(" ") } }, at);
      }
      if (overflow > 0) await this.store.audit.append(tx, { actor: "anonymous", action: "auth_failed", detail: { reason: "OVER_SUMMARY_LIMIT", keyId: null, ip: null, count: overflow } }, at);
    });
    return batch.reduce((n, s) => n + s.count, overflow);
  }
}
