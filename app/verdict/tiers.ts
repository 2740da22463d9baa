export const TIERS = ["free", "premium", "gold", "enterprise"] as const;
export type Tier = (typeof TIERS)[number];

export type EngineName = "validation" | "clamav" | "yara" | "virustotal" | "analysis";

export interface TierPolicy {
  readonly engines: readonly EngineName[];
  /** YARA rule sets (rule tags) this tier's matches are taken from. */
  readonly yaraSets: readonly ("basic" | "advanced")[];
  readonly customRules: boolean;
  /** Bull priority: 1 is the most urgent. */
  readonly priority: number;
}

/** A tier's limits: configuration (TIER_<TIER>_MAX_FILE_MB, TIER_<TIER>_FILES_PER_DAY). */
export interface TierLimits {
  readonly maxFileBytes: number;
  readonly filesPerDay: number;
}

export const MiB = 1024 * 1024;

/** The limits of docs/tiers.md, when the configuration sets none. */
export const DEFAULT_TIER_LIMITS: Readonly<Record<Tier, TierLimits>> = {
  free: { maxFileBytes: 10 * MiB, filesPerDay: 50 },
  premium: { maxFileBytes: 50 * MiB, filesPerDay: 200 },
  gold: { maxFileBytes: 100 * MiB, filesPerDay: 1000 },
  enterprise: { maxFileBytes: 500 * MiB, filesPerDay: 10_000 },
};

/** What each tier runs (docs/tiers.md, contract). */
export const TIER_POLICIES: Readonly<Record<Tier, TierPolicy>> = {
  free: {
    engines: ["validation", "clamav"],
    yaraSets: [],
    customRules: false,
    priority: 4,
  },
  premium: {
    engines: ["validation", "clamav", "yara"],
    yaraSets: ["basic"],
    customRules: false,
    priority: 3,
  },
  gold: {
    engines: ["validation", "clamav", "yara", "virustotal", "analysis"],
    yaraSets: ["basic", "advanced"],
    customRules: false,
    priority: 2,
  },
  enterprise: {
    engines: ["validation", "clamav", "yara", "virustotal", "analysis"],
    yaraSets: ["basic", "advanced"],
    customRules: true,
    priority: 1,
  },
};

export function isTier(value: string): value is Tier {
  return (TIERS as readonly string[]).includes(value);
}

/** The tier that runs more engines (a lower priority number): a rescan never scans below the file's own tier. */
export function higherTier(a: Tier, b: Tier): Tier {
  return TIER_POLICIES[a].priority <= TIER_POLICIES[b].priority ? a : b;
}
