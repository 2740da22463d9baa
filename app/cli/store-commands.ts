import { parseArgs } from "node:util";
import { verifyAuditTrail } from "../audit/audit-verify.ts";
import { ApiKeys } from "../auth/api-keys.ts";
import { AuthFailures } from "../auth/auth-failures.ts";
import { loadConfig } from "../config.ts";
import { openStore, storeSettings, type Store } from "../store/store.ts";
import { isTier, TIERS } from "../verdict/tiers.ts";

type Out = (line: string) => void;

/** Commands that need only SQLite (and the audit log): they work while Redis or clamd are down. */
async function withStore<T>(work: (store: Store) => Promise<T>, config = loadConfig()): Promise<T> {
  const store = await openStore(storeSettings(config));
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

/** The CLI manages keys but authenticates no request, so its AuthFailures never has anything to flush. */
const apiKeys = (store: Store) => new ApiKeys(store, new AuthFailures(store));

const KEYS_USAGE = `usage: scan-daemon keys create --user ID --tier ${TIERS.join("|")} [--admin] | keys list | keys revoke KEY_ID`;

export async function keysCommand(args: string[], out: Out, err: Out): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { user: { type: "string" }, tier: { type: "string" }, admin: { type: "boolean", default: false } } });
  const [sub, id] = positionals;
  if (sub === "create" && !id && values.user && values.tier && isTier(values.tier) && /^[A-Za-z0-9._@-]{1,128}$/.test(values.user)) {
    const input = { userId: values.user, tier: values.tier, role: values.admin ? ("admin" as const) : ("user" as const) };
    return withStore(async (store) => {
      const { record, key } = await apiKeys(store).create(input, "cli");
      out(`created ${record.id} for user ${record.userId}, tier ${record.tier}, role ${record.role}`);
      out("the key is shown once; store it now:");
      out(key);
      return 0;
    });
  }
  if (sub === "list" && !id) {
    return withStore(async (store) => {
      const keys = await apiKeys(store).list();
      for (const k of keys) out(`${k.id} user=${k.userId} tier=${k.tier} role=${k.role} created=${k.createdAt} last_used=${k.lastUsedAt ?? "-"}${k.revokedAt ? ` revoked=${k.revokedAt}` : ""}`);
      out(`${keys.length} key(s)`);
      return 0;
    });
  }
  if (sub === "revoke" && id && positionals.length === 2) {
    return withStore(async (store) => {
      const revoked = await apiKeys(store).revoke(id, "cli");
      out(`revoked ${revoked.id} (user ${revoked.userId})`);
      return 0;
    });
  }
  err(KEYS_USAGE);
  return 2;
}

const AUDIT_USAGE = "usage: scan-daemon audit verify [--expect SEQ:HASH]...";

export async function auditCommand(args: string[], out: Out, err: Out, config = loadConfig()): Promise<number> {
  const parsed = (() => {
    try {
      return parseArgs({ args, allowPositionals: true, options: { expect: { type: "string", multiple: true, default: [] } } });
    } catch {
      return null;
    }
  })();
  const heads = (parsed?.values.expect ?? []).map((e) => /^(\d+):([0-9a-f]{64})$/.exec(e));
  if (!parsed || parsed.positionals.length !== 1 || parsed.positionals[0] !== "verify" || heads.some((h) => h === null)) {
    err(AUDIT_USAGE);
    return 2;
  }
  const expect = heads.map((h) => ({ seq: Number(h![1]), hash: h![2]! }));
  return withStore(async (store) => {
    const report = await verifyAuditTrail(store.audit.rows(), store.audit.logPath, { key: config.auditKey, expect, host: store.audit.host });
    for (const problem of report.problems) err(problem);
    if (!report.ok) {
      err(`audit trail BROKEN: ${report.problems.length} problem(s) in ${store.audit.logPath}`);
      return 1;
    }
    const keyed = report.keyedFrom === null ? "" : `, HMAC-chained from entry ${report.keyedFrom}`;
    out(`audit trail intact: ${report.entries} entries${keyed}, head ${report.entries}:${report.head}`);
    if (report.rolledBack > 0) out(`${report.rolledBack} line(s) in ${store.audit.logPath} belong to transactions that did not commit; each is followed by the entry that did`);
    return 0;
  }, config);
}
