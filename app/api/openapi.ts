/**
 * The OpenAPI 3.1 description of docs/api.md, served at /api/openapi.json. A test
 * checks it against the routes the app really serves, and validates it against the 3.1 schema.
 */

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object) => ({ "application/json": { schema } });
const error = (description: string) => ({ description, content: json(ref("Error")) });

const E = {
  400: error("Malformed request (bad parameter, field or multipart body)"),
  401: error("Missing, unknown or revoked API key"),
  403: error("The key's role or tier does not allow this"),
  404: error("No such file for this user (another tenant's file is not found either)"),
  409: error("Conflict: not scanned yet, not clean, or the file id exists"),
  410: error("The clean file's bytes are no longer kept (retention)"),
  413: error("Larger than the tier accepts"),
  415: error("Not multipart/form-data"),
  422: error("fileHash does not match the bytes received"),
  429: { ...error("Over the tier's files per UTC day"), headers: { "Retry-After": { schema: { type: "integer" }, description: "Seconds until the next UTC day" } } },
  503: error("Not ready"),
};

const fileId = { name: "fileId", in: "path", required: true, schema: { type: "string", pattern: "^[A-Za-z0-9_-]{1,64}$" } };
const quarantineId = { name: "id", in: "path", required: true, schema: { type: "string" } };
const secured = [{ bearer: [] }];

export const OPENAPI_DOCUMENT = {
  openapi: "3.1.0",
  info: { title: "medical-scan-daemon", version: "1", description: "Security gate for medical files: upload, scan verdicts, quarantine." },
  components: {
    securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "An API key from `scan-daemon keys create`" } },
    schemas: {
      Error: { type: "object", required: ["error"], properties: { error: { type: "object", required: ["code", "message"], properties: { code: { type: "string" }, message: { type: "string" } } } } },
      Finding: {
        type: "object",
        required: ["engine", "id", "severity"],
        properties: { engine: { type: "string" }, id: { type: "string" }, severity: { enum: ["info", "low", "medium", "high", "critical"] }, verdict: { type: "string" }, description: { type: "string" }, offset: { type: "integer" }, target: { type: "string" } },
      },
      Result: {
        type: "object",
        required: ["status", "threatLevel", "confidence", "findings", "recommendations", "engines", "sha256", "fileType", "scanTimeMs"],
        properties: {
          status: { enum: ["clean", "suspicious", "infected", "error"] },
          threatLevel: { enum: ["clean", "low", "medium", "high", "critical"] },
          confidence: { type: "number" },
          findings: { type: "array", items: ref("Finding") },
          recommendations: { type: "array", items: { type: "string" } },
          engines: { type: "object", additionalProperties: { type: "object", properties: { ran: { type: "boolean" }, ms: { type: "number" }, version: { type: "string" }, signatures: { enum: ["development"], description: "only the development signature set was loaded: no production verdict" } } } },
          sha256: { type: ["string", "null"] },
          fileType: { type: ["string", "null"] },
          scanTimeMs: { type: "number" },
          incomplete: {
            type: "array",
            description: "advisory engines the tier runs that did not answer (VirusTotal over its quota or unreachable); absent when none",
            items: { type: "object", required: ["engine", "code", "reason"], properties: { engine: { type: "string" }, code: { type: "string" }, reason: { type: "string" } } },
          },
        },
      },
      Scan: {
        type: "object",
        required: ["id", "status", "threat_level", "scan_engines", "created_at", "results"],
        properties: { id: { type: "string" }, jobId: { type: "string" }, scan_type: { enum: ["upload", "rescan", "followup"] }, status: { type: "string" }, threat_level: { type: "string" }, scan_engines: { type: "array", items: { type: "string" } }, created_at: { type: "string" }, results: ref("Result") },
      },
      Queued: { type: "object", required: ["fileId", "jobId", "status", "estimatedTime"], properties: { fileId: { type: "string" }, jobId: { type: "string" }, status: { const: "queued" }, estimatedTime: { type: "integer", description: "seconds" } } },
      Scanned: { type: "object", required: ["fileId", "jobId", "result"], properties: { fileId: { type: "string" }, jobId: { type: "string" }, result: ref("Result") } },
      QuarantineEntry: {
        type: "object",
        properties: { id: { type: "string" }, fileId: { type: "string" }, scanId: { type: "string" }, sha256: { type: "string" }, size: { type: "integer" }, verdict: { type: "string" }, threatLevel: { type: "string" }, encrypted: { type: "boolean" }, state: { enum: ["held", "released", "deleted"] }, createdAt: { type: "string" } },
      },
      Check: { type: "object", required: ["ok", "state"], properties: { ok: { type: "boolean" }, state: { type: "string" } } },
      Readiness: { type: "object", required: ["status", "checks"], properties: { status: { enum: ["ready", "not_ready"] }, checks: { type: "object", additionalProperties: ref("Check") } } },
    },
  },
  paths: {
    "/api/medical-files/upload": {
      post: {
        summary: "Upload a file for scanning",
        security: secured,
        parameters: [{ name: "wait", in: "query", schema: { type: "integer", minimum: 0, maximum: 120 }, description: "Seconds to wait for the verdict" }],
        requestBody: {
          required: true,
          content: {
            "multipart/form-data": {
              schema: { type: "object", required: ["file"], properties: { file: { type: "string", contentMediaType: "application/octet-stream" }, fileId: { type: "string", pattern: "^[A-Za-z0-9_-]{1,64}$", description: "not scan-queue or upload, in any case: they name routes (400 INVALID_REQUEST)" }, fileHash: { type: "string", pattern: "^[0-9a-fA-F]{64}$" } } },
            },
          },
        },
        responses: {
          200: { description: "Scanned within `wait` seconds", content: json(ref("Scanned")) },
          202: { description: "Accepted and queued", content: json(ref("Queued")) },
          400: E[400], 401: E[401], 409: E[409], 413: E[413], 415: E[415], 422: E[422], 429: E[429],
        },
      },
    },
    "/api/medical-files": {
      get: {
        summary: "The caller's files, newest first, each with its latest verdict",
        security: secured,
        parameters: [
          { name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: 100, default: 50 } },
          { name: "after", in: "query", schema: { type: "string" }, description: "the `next` of the previous page" },
        ],
        responses: {
          200: {
            description: "A page of files",
            content: json({
              type: "object",
              required: ["files", "next"],
              properties: {
                files: { type: "array", items: { type: "object", required: ["fileId", "status", "createdAt"], properties: { fileId: { type: "string" }, fileName: { type: "string" }, size: { type: "integer" }, state: { type: "string" }, status: { enum: ["queued", "clean", "suspicious", "infected", "error"] }, threatLevel: { type: ["string", "null"] }, createdAt: { type: "string" } } } },
                next: { type: ["string", "null"], description: "pass as `after` for the next page; null on the last" },
              },
            }),
          },
          400: E[400],
          401: E[401],
        },
      },
    },
    "/api/medical-files/scan-queue": {
      get: {
        summary: "Job counts of the scan queue",
        security: secured,
        responses: { 200: { description: "Counts", content: json({ type: "object", properties: { waiting: { type: "integer" }, active: { type: "integer" }, completed: { type: "integer" }, failed: { type: "integer" }, delayed: { type: "integer" } } }) }, 401: E[401] },
      },
    },
    "/api/medical-files/{fileId}": {
      get: {
        summary: "A file's metadata and latest scan",
        security: secured,
        parameters: [fileId],
        responses: { 200: { description: "The file", content: json({ type: "object", required: ["fileId", "status"], properties: { fileId: { type: "string" }, status: { type: "string" }, state: { type: "string" }, sha256: { type: "string" }, latestScan: { oneOf: [ref("Scan"), { type: "null" }] } } }) }, 401: E[401], 404: E[404] },
      },
    },
    "/api/medical-files/{fileId}/scans": {
      get: {
        summary: "Every scan of a file, newest first",
        security: secured,
        parameters: [fileId],
        responses: { 200: { description: "Scans", content: json({ type: "object", required: ["fileId", "scans"], properties: { fileId: { type: "string" }, scans: { type: "array", items: ref("Scan") } } }) }, 401: E[401], 404: E[404] },
      },
    },
    "/api/medical-files/{fileId}/content": {
      get: {
        summary: "The file's bytes, only while its latest result is clean",
        security: secured,
        parameters: [fileId],
        responses: { 200: { description: "The bytes", content: { "application/octet-stream": {} } }, 401: E[401], 404: E[404], 409: E[409], 410: E[410] },
      },
    },
    "/api/medical-files/{fileId}/rescan": {
      post: {
        summary: "Scan again with the current engines (premium and above), at the higher of the caller's and the file's tier; counts against the caller's day",
        security: secured,
        parameters: [fileId],
        responses: {
          202: { description: "Queued", content: json({ type: "object", required: ["message", "scanJobId", "estimatedTime"], properties: { message: { type: "string" }, scanJobId: { type: "string" }, estimatedTime: { type: "integer" } } }) },
          401: E[401], 403: E[403], 404: E[404], 429: E[429],
        },
      },
    },
    "/api/admin/quarantine": {
      get: {
        summary: "Quarantine entries (admin)",
        security: secured,
        parameters: [{ name: "state", in: "query", schema: { enum: ["held", "released", "deleted"] } }],
        responses: { 200: { description: "Entries", content: json({ type: "object", properties: { entries: { type: "array", items: ref("QuarantineEntry") } } }) }, 401: E[401], 403: E[403] },
      },
    },
    "/api/admin/quarantine/{id}/release": {
      post: { summary: "Release a held file (admin); 409 QUARANTINE_INTEGRITY when the entry no longer holds the bytes quarantined", security: secured, parameters: [quarantineId], responses: { 200: { description: "Released", content: json(ref("QuarantineEntry")) }, 401: E[401], 403: E[403], 404: E[404], 409: E[409] } },
    },
    "/api/admin/quarantine/{id}": {
      delete: { summary: "Delete a held file (admin)", security: secured, parameters: [quarantineId], responses: { 200: { description: "Deleted", content: json(ref("QuarantineEntry")) }, 401: E[401], 403: E[403], 404: E[404] } },
    },
    "/health": { get: { summary: "Liveness", responses: { 200: { description: "The process serves requests", content: json({ type: "object", properties: { status: { const: "ok" } } }) } } } },
    "/health/ready": { get: { summary: "Readiness, each dependency named with its state", responses: { 200: { description: "Ready", content: json(ref("Readiness")) }, 503: { description: "Not ready", content: json(ref("Readiness")) } } } },
    "/metrics": { get: { summary: "Prometheus metrics", responses: { 200: { description: "Text exposition format", content: { "text/plain": {} } } } } },
    "/api/openapi.json": { get: { summary: "This document", responses: { 200: { description: "OpenAPI 3.1", content: json({ type: "object" }) } } } },
  },
} as const;
