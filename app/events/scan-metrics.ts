import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { cachedFor } from "../cached.ts";
import type { ScanResult } from "../verdict/scan-result.ts";
import type { ScanStatus } from "../verdict/scoring.ts";
import type { Tier } from "../verdict/tiers.ts";
import type { MetricsSnapshot } from "./worker-reports.ts";

export interface MetricsProbes {
  /** Jobs by state (waiting, active, ...). */
  queueCounts(): Promise<Readonly<Record<string, number>>>;
  /** clamd's PING and the age of the definitions it has loaded (null when it names none). */
  clamd(): Promise<{ up: boolean; definitionsAgeSeconds: number | null }>;
  webSocketClients(): number;
}

const CLAMD_PROBE_CACHE_MS = 10_000;

/** The label of the series that carries each scan's final verdict once. */
export const OVERALL = "overall";

/**
 * Prometheus metrics, in a registry of their own (no process-wide default). Scan counts and
 * durations are recorded by the process that wrote the verdict, so instances never double
 * count; the process that serves /metrics (with `probes`) adds what the scan workers published
 * (`peers`) and probes queue depth, clamd and definitions when scraped.
 * `medical_scan_total{engine="overall"}` counts verdicts; other engine labels count what each
 * engine concluded on its own (clean, suspicious, infected, error).
 */
export class ScanMetrics {
  readonly registry = new Registry();
  private readonly scans: Counter<"status" | "tier" | "engine">;
  private readonly durations: Histogram<"tier" | "engine">;
  private readonly pathRefusals: Counter;

  constructor(
    probes?: MetricsProbes,
    /** The scan workers' latest metrics, for the process that serves /metrics. */
    private readonly peers?: () => Promise<MetricsSnapshot[]>,
  ) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.scans = new Counter({ name: "medical_scan_total", help: "Scans by status, tier and engine", labelNames: ["status", "tier", "engine"], registers });
    this.durations = new Histogram({
      name: "medical_scan_duration_seconds",
      help: "Scan duration by tier and engine",
      labelNames: ["tier", "engine"],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers,
    });
    this.pathRefusals = new Counter({
      name: "medical_clamd_path_refusals_total",
      help: "Stored files clamd was not allowed to read by path (CLAMAV_SCAN_MODE=path), so they were streamed to it",
      registers,
    });
    if (probes) this.probed(probes);
  }

  private probed(probes: MetricsProbes): void {
    const registers = [this.registry];
    new Gauge({
      name: "medical_scan_queue_depth",
      help: "Jobs in the scan queue by state",
      labelNames: ["state"],
      registers,
      async collect() {
        const counts = await probes.queueCounts();
        for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
      },
    });
    // Both clamd gauges share one probe, and one probe serves every scrape of its period: an
    // unauthenticated scraper cannot make the app open clamd connections at its own rate.
    const probeClamd = cachedFor(CLAMD_PROBE_CACHE_MS, () => probes.clamd());
    new Gauge({
      name: "medical_clamd_up",
      help: "1 when clamd answers PING",
      registers,
      async collect() {
        this.set((await probeClamd()).up ? 1 : 0);
      },
    });
    new Gauge({
      name: "medical_clamav_definitions_age_seconds",
      help: "Age of the ClamAV definitions clamd has loaded (absent when unknown)",
      registers,
      async collect() {
        const age = (await probeClamd()).definitionsAgeSeconds;
        if (age === null) this.reset();
        else this.set(age);
      },
    });
    new Gauge({
      name: "medical_websocket_clients",
      help: "Connected WebSocket clients",
      registers,
      collect() {
        this.set(probes.webSocketClients());
      },
    });
  }

  observe(result: ScanResult, tier: Tier): void {
    this.scans.inc({ status: result.status, tier, engine: OVERALL });
    this.durations.observe({ tier, engine: OVERALL }, result.scanTimeMs / 1000);
    for (const [engine, run] of Object.entries(result.engines)) {
      if (!run.ran && !run.error) continue;
      this.scans.inc({ status: engineStatus(result, engine, run.error !== undefined), tier, engine });
      if (!run.cached) this.durations.observe({ tier, engine }, run.ms / 1000);
    }
  }

  pathRefused(): void {
    this.pathRefusals.inc();
  }

  /** This process's metrics, as published for the process that serves /metrics. */
  snapshot(): Promise<object[]> {
    return this.registry.getMetricsAsJSON();
  }

  /** This process's metrics plus every scan worker's: counters and histograms summed. */
  async text(): Promise<string> {
    const others = (await this.peers?.()) ?? [];
    if (others.length === 0) return this.registry.metrics();
    return AggregatorRegistry.aggregate([await this.registry.getMetricsAsJSON(), ...others]).metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

function engineStatus(result: ScanResult, engine: string, failed: boolean): ScanStatus {
  if (failed) return "error";
  const verdicts = result.findings.filter((f) => f.engine === engine).map((f) => f.verdict);
  return verdicts.includes("infected") ? "infected" : verdicts.includes("suspicious") ? "suspicious" : "clean";
}
