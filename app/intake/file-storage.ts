import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { chmod, mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { scratchPath } from "../scan/scratch.ts";
import { DurableWriteStream, FolderSync, moveDurably } from "./durable-fs.ts";

export interface StoredFile {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

export const filesDirOf = (dataDir: string) => path.join(dataDir, "files");

/**
 * Stored files, and the folder that holds them, can be read by the app's group: the image puts
 * clamd's user in it, so that clamd reads a stored file itself (CLAMAV_SCAN_MODE=path). A file
 * is made with this mode in incoming, whose folder (0700) keeps bytes still arriving the app
 * user's alone until the move into files/; quarantine keeps its own 0700/0600.
 */
export const STORED_FILE_MODE = 0o640;
const FILES_DIR_MODE = 0o750;

/**
 * DATA_DIR/files holds accepted files by id (never by the client's name); DATA_DIR/incoming
 * holds bytes still arriving, which never count as stored. In a deployment whose hosts share
 * DATA_DIR, each host receives into a folder of its own under incoming (named by HOST_ID), on
 * the same filesystem as files/, so that a move into files/ stays a rename.
 */
export class FileStorage {
  readonly filesDir: string;
  readonly incomingDir: string;
  private readonly filesSync: FolderSync;

  constructor(dataDir: string, hostFolder?: string) {
    this.filesDir = filesDirOf(dataDir);
    this.filesSync = new FolderSync(this.filesDir);
    this.incomingDir = path.join(dataDir, "incoming", ...(hostFolder ? [hostFolder] : []));
  }

  async init(): Promise<void> {
    await mkdir(this.filesDir, { recursive: true, mode: FILES_DIR_MODE });
    await chmod(this.filesDir, FILES_DIR_MODE);
    await mkdir(this.incomingDir, { recursive: true, mode: 0o700 });
  }

  pathFor(fileId: string): string {
    return path.join(this.filesDir, fileId);
  }

  /** Copies a caller's file into `incoming`, hashing as it streams; the source is left as it was. */
  async receiveCopy(source: string): Promise<StoredFile> {
    const temp = scratchPath(this.incomingDir, "copy");
    const sha256 = createHash("sha256");
    let size = 0;
    try {
      await pipeline(
        createReadStream(source, { highWaterMark: 1024 * 1024 }),
        async function* (chunks: AsyncIterable<Buffer>) {
          for await (const chunk of chunks) {
            sha256.update(chunk);
            size += chunk.length;
            yield chunk;
          }
        },
        new DurableWriteStream(temp, { mode: STORED_FILE_MODE, flags: "wx" }),
      );
      return { path: temp, size, sha256: sha256.digest("hex") };
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }

  /**
   * Moves a received file (in `incoming`) under its id, once its row holds the id: a step
   * before the commit, under the store's write lock. Every file a group commit places shares
   * one fsync of `files/` (FolderSync).
   */
  async place(received: string, fileId: string): Promise<string> {
    const dest = this.pathFor(fileId);
    await moveDurably(received, dest, { syncSource: false, syncDest: () => this.filesSync.sync() });
    return dest;
  }

  async remove(filePath: string): Promise<void> {
    await rm(filePath, { force: true });
  }
}
