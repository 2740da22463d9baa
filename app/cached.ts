/**
 * `load`, answered from its last result for `ttlMs` and shared by concurrent callers: probes
 * that unauthenticated clients can trigger (readiness, metrics) then cost the engines and the
 * store one round a period, however often they are asked. A failed load is not kept.
 */
export function cachedFor<T>(ttlMs: number, load: () => Promise<T>, now: () => number = Date.now): () => Promise<T> {
  let last: { readonly at: number; readonly value: Promise<T> } | undefined;
  return () => {
    const at = now();
    if (last && at - last.at < ttlMs) return last.value;
    const value = load();
    const entry = { at, value };
    last = entry;
    value.catch(() => {
      if (last === entry) last = undefined;
    });
    return value;
  };
}
