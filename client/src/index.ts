export { ScanApiError, ScanClient, ScanUnavailableError } from "./client.ts";
export type { ErrorBody, FileInfo, FilePage, FileScans, Finding, Queued, RescanQueued, ScanClientOptions, Scanned, ScanResult, UploadOptions, UploadSource } from "./client.ts";
export { scanUpload } from "./gate.ts";
export type { GateOptions, IncomingFile, Refusal, ScannedFile } from "./gate.ts";
