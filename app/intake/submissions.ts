import { randomUUID } from "node:crypto";
import { stat } from "node:fs/promises";
import { NotFoundError } from "../errors/not-found-error.ts";
import { StoreUnavailableError } from "../errors/store-unavailable-error.ts";
import { SubmitRejectedError } from "../errors/submit-rejected-error.ts";
import type { Logger } from "../log.ts";
import type { DailyCounter } from "./daily-counter.ts";
import type { FileStorage, StoredFile } from "./file-storage.ts";
import { fileNameProblem, sanitiseName } from "./sanitise-name.ts";
import { isConstraintViolation } from "../store/database.ts";
import type { FileRecord } from "../store/file-repo.ts";
import type { ScanJobData, ScanType } from "../store/scan-repo.ts";
import type { Store } from "../store/store.ts";
import { higherTier, isTier, TIER_POLICIES, type Tier, type TierLimits } from "../verdict/tiers.ts";

/** The seed's `submitFile` argument. */
export interface SubmitFileInput {
  readonly fileId?: string;
  readonly filePath: string;
  readonly fileName: string;
  /** The content type the sender declared (the multipart part's Content-Type); checked against the content. */
  readonly declaredType?: string;
  readonly fileSize?: number;
  /** SHA-256 the sender computed; checked against the bytes received. */
  readonly fileHash?: string;
  readonly userTier: Tier;
  readonly userId: string;
}

export interface Submitted {
  readonly fileId: string;
  readonly jobId: string;
}

const ID = /^[A-Za-z0-9_-]{1,64}$/;
/** The fixed segments under /api/medical-files/: a file so named could never be read back (matched case-insensitively, as the router does). */
export const RESERVED_FILE_IDS: readonly string[] = ["scan-queue", "upload"];
const USER_ID = /^[A-Za-z0-9._@-]{1,128}$/;
const SHA256 = /^[0-9a-fA-F]{64}$/;

/**
 * Where accepted files' scans go (queue/'s ScanQueue). Declared here, as what the intake needs,
 * because the scan queue's side (the worker, quarantine) uses the intake's file storage.
 */
export interface JobQueue {
  add(jobId: string, data: ScanJobData, delayMs?: number): Promise<void>;
}

/**
 * Accepting files and queueing scans. SQLite is written before Redis: if the queue add fails,
 * the reconciler finds the open job and queues it, so an accepted file is never forgotten.
 */
export class Submissions {
  constructor(
    private readonly store: Store,
    private readonly storage: Pick<FileStorage, "pathFor" | "receiveCopy" | "place" | "remove">,
    private readonly queue: JobQueue,
    private readonly daily: Pick<DailyCounter, "consume" | "release">,
    private readonly log: Logger,
    private readonly tierLimits: Readonly<Record<Tier, TierLimits>>,
  ) {}

  /** The seed's call: copies the caller's file in (hashing it), then accepts it. */
  async submitFile(input: SubmitFileInput): Promise<Submitted> {
    const { fileId, limits } = this.check(input);
    const info = await stat(input.filePath).catch(() => null);
    if (!info?.isFile()) throw new SubmitRejectedError("INVALID_REQUEST", "filePath is not a readable file");
    this.checkSize(info.size, input, limits);
    await this.checkNew(input.userId, fileId);
    return this.accept(fileId, input, limits, () => this.storage.receiveCopy(input.filePath));
  }

  /**
   * An upload already streamed into `incoming`, hashed on the way and flushed to disk by its
   * receiver (HTTP: the upload route's write stream syncs before it closes). The bytes are
   * removed if the file is refused.
   */
  async submitReceived(input: Omit<SubmitFileInput, "filePath">, received: StoredFile): Promise<Submitted> {
    try {
      const { fileId, limits } = this.check(input);
      this.checkSize(received.size, input, limits);
      await this.checkNew(input.userId, fileId);
      return await this.accept(fileId, input, limits, async () => received);
    } catch (err) {
      await this.storage.remove(received.path);
      throw err;
    }
  }

  private check(input: Omit<SubmitFileInput, "filePath">): { fileId: string; limits: TierLimits } {
    const fileId = input.fileId ?? randomUUID();
    const problem = !isTier(input.userTier)
      ? "userTier must be one of free, premium, gold, enterprise"
      : !USER_ID.test(input.userId ?? "")
        ? "userId must be 1-128 letters, digits or ._@-"
        : !ID.test(fileId)
          ? "fileId must be 1-64 letters, digits, _ or -"
          : RESERVED_FILE_IDS.includes(fileId.toLowerCase())
            ? `fileId ${fileId} is reserved: it names an API route (${RESERVED_FILE_IDS.join(", ")})`
            : input.fileHash !== undefined && !SHA256.test(input.fileHash)
              ? "fileHash must be a SHA-256 in hex"
              : null;
    if (problem) throw new SubmitRejectedError("INVALID_REQUEST", problem);
    const nameProblem = fileNameProblem(input.fileName ?? "");
    if (nameProblem) throw new SubmitRejectedError("INVALID_FILE_NAME", `the file name ${nameProblem}`);
    if ((input.declaredType?.length ?? 0) > 255) throw new SubmitRejectedError("INVALID_REQUEST", "the declared content type is longer than 255 characters");
    return { fileId, limits: this.tierLimits[input.userTier] };
  }

  private checkSize(size: number, input: Omit<SubmitFileInput, "filePath">, limits: TierLimits): void {
    if (size === 0) throw new SubmitRejectedError("EMPTY_FILE", "the file is empty");
    if (size > limits.maxFileBytes) throw SubmitRejectedError.tooLarge(input.userTier, limits);
    if (input.fileSize !== undefined && input.fileSize !== size) throw new SubmitRejectedError("INTEGRITY_MISMATCH", `fileSize ${input.fileSize} does not match the ${size} bytes received`);
  }

  /** Only the owner's own files count: another tenant's file of the same id is neither a duplicate nor a hint that it exists. */
  private async checkNew(ownerId: string, fileId: string): Promise<void> {
    if (await this.store.files.forOwner(ownerId, fileId)) throw new SubmitRejectedError("DUPLICATE_FILE", `file ${fileId} exists already`);
  }

  /** Counts the file against the daily limit, stores it, and queues its scan. */
  private async accept(fileId: string, input: Omit<SubmitFileInput, "filePath">, limits: TierLimits, receive: () => Promise<StoredFile>): Promise<Submitted> {
    const use = await this.daily.consume(input.userId, limits.filesPerDay);
    if (!use.allowed) throw SubmitRejectedError.dailyLimit(input.userTier, limits, use.retryAfterSeconds);
    const received = await receive().catch(async (err: unknown) => {
      await this.daily.release(input.userId);
      throw err;
    });
    let committed = false;
    let placedAt: string | undefined;
    try {
      if (input.fileHash && input.fileHash.toLowerCase() !== received.sha256) throw new SubmitRejectedError("INTEGRITY_MISMATCH", "fileHash does not match the bytes received");
      const jobId = randomUUID();
      const now = new Date().toISOString();
      // The unique (owner, client id) index decides a race between two submissions of one fileId
      // by one owner; only the winner moves its bytes to its path, so the loser cannot overwrite
      // them. The internal id is the client's unless another owner's file holds it. The bytes
      // move before the commit, not after it: a process killed between the two must never leave
      // an accepted file whose bytes were still in `incoming` (swept at the next start).
      const file = await this.store.db
        .transaction(async (tx) => {
          const id = (await this.store.files.get(fileId, tx)) ? randomUUID() : fileId;
          const record = { id, clientId: fileId, ownerId: input.userId, tier: input.userTier, originalName: sanitiseName(input.fileName ?? ""), declaredType: input.declaredType ?? null, storedPath: this.storage.pathFor(id), size: received.size, sha256: received.sha256, state: "queued" as const };
          await this.store.files.insert(tx, record, now);
          await this.store.scans.enqueue(tx, jobId, id, "upload", input.userTier, now);
          await this.store.audit.append(tx, { actor: input.userId, action: "upload", fileId: id, sha256: received.sha256, detail: { jobId, size: received.size, tier: input.userTier } }, now);
          tx.beforeCommit(async () => {
            placedAt = await this.storage.place(received.path, id);
          });
          return record;
        })
        .catch((err: unknown) => {
          if (isConstraintViolation(err)) throw new SubmitRejectedError("DUPLICATE_FILE", `file ${fileId} exists already`);
          throw err;
        });
      committed = true;
      await this.addToQueue(jobId, { fileId: file.id, storedPath: file.storedPath, sha256: received.sha256, tier: input.userTier, userId: input.userId, scanType: "upload" });
      return { fileId, jobId };
    } catch (err) {
      if (!committed) {
        await this.daily.release(input.userId);
        // Moved, then the commit failed: the id is still nobody's. Unless the store went away
        // mid-commit, when the row may have been committed after all and the bytes stay.
        if (placedAt && !(err instanceof StoreUnavailableError)) await this.storage.remove(placedAt);
      }
      throw err;
    } finally {
      if (!placedAt) await this.storage.remove(received.path);
    }
  }

  /**
   * A new scan of a stored or quarantined file with the current engines (cache bypassed), at
   * the higher of the caller's and the file's tier, so a lower tier's clean cannot clear a file
   * held at a higher one. A tenant's rescan counts against their daily limit like an upload.
   */
  async rescan(file: FileRecord, by: { actor: string; tier?: Tier; tenant?: string }): Promise<Submitted> {
    const callerTier = by.tier ?? file.tier;
    if (TIER_POLICIES[callerTier].priority > TIER_POLICIES.premium.priority) throw new SubmitRejectedError("RESCAN_NOT_ALLOWED", "rescans need the premium tier or above");
    if (!["stored", "released", "quarantined", "queued"].includes(file.state)) throw new NotFoundError("FILE_NOT_FOUND", `file ${file.id} has no content left to scan`);
    const tier = higherTier(callerTier, file.tier);
    if (by.tenant === undefined) return this.enqueue(file, "rescan", by.actor, "rescan", tier);
    const limits = this.tierLimits[callerTier];
    const use = await this.daily.consume(by.tenant, limits.filesPerDay);
    if (!use.allowed) throw SubmitRejectedError.dailyLimit(callerTier, limits, use.retryAfterSeconds);
    return this.enqueue(file, "rescan", by.actor, "rescan", tier).catch(async (err: unknown) => {
      await this.daily.release(by.tenant!);
      throw err;
    });
  }

  /**
   * A scan of the same file later, to ask VirusTotal again: `delayMs`, then twice as long each
   * time; none past `max`, and none once the owner's daily limit is used up (it counts as a file).
   */
  async followUp(file: FileRecord, data: ScanJobData, delayMs: number, max: number): Promise<void> {
    const followUps = (data.followUps ?? 0) + 1;
    // "quarantining": the verdict that asks for the follow-up has just started the move.
    if (followUps > max || !["stored", "quarantining", "quarantined", "released"].includes(file.state)) return;
    const use = await this.daily.consume(file.ownerId, this.tierLimits[file.tier].filesPerDay);
    if (!use.allowed) {
      this.log.info({ fileId: file.id, followUps }, "VirusTotal follow-up skipped: the owner's daily limit is used up");
      return;
    }
    await this.enqueue(file, "followup", "system", "followup", data.tier, { followUps, delayMs: delayMs * 2 ** (followUps - 1) });
  }

  /** Queues a job again for a file whose last job went to the failed list. */
  redrive(file: FileRecord, scanType: ScanType, tier: Tier, actor: string): Promise<Submitted> {
    return this.enqueue(file, scanType, actor, "job_redrive", tier);
  }

  private async enqueue(
    file: FileRecord,
    scanType: ScanType,
    actor: string,
    action: "rescan" | "job_redrive" | "followup",
    tier: Tier = file.tier,
    later: { followUps: number; delayMs: number } = { followUps: 0, delayMs: 0 },
  ): Promise<Submitted> {
    const jobId = randomUUID();
    const now = new Date().toISOString();
    await this.store.db.transaction(async (tx) => {
      await this.store.scans.enqueue(tx, jobId, file.id, scanType, tier, now);
      await this.store.audit.append(tx, { actor, action, fileId: file.id, sha256: file.sha256, detail: { jobId } }, now);
    });
    await this.addToQueue(jobId, { fileId: file.id, storedPath: file.storedPath ?? "", sha256: file.sha256, tier, userId: file.ownerId, scanType, followUps: later.followUps }, later.delayMs);
    return { fileId: file.clientId, jobId };
  }

  private async addToQueue(jobId: string, data: ScanJobData, delayMs = 0): Promise<void> {
    try {
      await this.queue.add(jobId, data, delayMs);
    } catch (err) {
      // Recorded in SQLite already: the reconciler queues it once Redis answers again.
      this.log.warn({ err, jobId, fileId: data.fileId }, "queue add failed; left to the reconciler");
    }
  }
}
