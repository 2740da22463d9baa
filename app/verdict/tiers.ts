export const TIERS = ["free", "premium", "gold", "enterprise"] as const;
export type Tier = (typeof TIERS)[number];

export type EngineName = "validation" | "clamav" | "yara" | "virustotal" | "analysis";

export interface TierPolicy {
  readonly engines: readonly EngineName[];
  /** YARA rule sets (rule tags) this tier's matches are taken from. */
  readonly yaraSets: readonly ("basic" | "advanced")[];
  readonly customRules: boolean;
  readonly maxFileBytes: number;
  readonly filesPerDay: number;
  /** Bull priority: 1 is the most urgent. */
  readonly priority: number;
}

const MiB = 1024 * 1024;

/** The tier table of docs/tiers.md (contract). */
export const TIER_POLICIES: Readonly<Record<Tier, TierPolicy>> = {
  free: {
    engines: ["validation", "clamav"],
    yaraSets: [],
    customRules: false,
    maxFileBytes: 10 * MiB,
    filesPerDay: 50,
    priority: 4,
  },
  premium: {
    engines: ["validation", "clamav", "yara"],
    yaraSets: ["basic"],
    customRules: false,
    maxFileBytes: 50 * MiB,
    filesPerDay: 200,
    priority: 3,
  },
  gold: {
    engines: ["validation", "clamav", "yara", "virustotal", "analysis"],
    yaraSets: ["basic", "advanced"],
    customRules: false,
    maxFileBytes: 100 * MiB,
    filesPerDay: 1000,
    priority: 2,
  },
  enterprise: {
    engines: ["validation", "clamav", "yara", "virustotal", "analysis"],
    yaraSets: ["basic", "advanced"],
    customRules: true,
    maxFileBytes: 500 * MiB,
    filesPerDay: 10000,
    priority: 1,
  },
};

export function isTier(value: string): value is Tier {
  return (TIERS as readonly string[]).includes(value);
}
