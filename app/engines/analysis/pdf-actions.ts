export type PdfActionId = "analysis.pdf-javascript" | "analysis.pdf-open-action" | "analysis.pdf-launch" | "analysis.pdf-embedded-file";

const NAME_ACTIONS: Readonly<Record<string, PdfActionId>> = {
  "/JavaScript": "analysis.pdf-javascript",
  "/JS": "analysis.pdf-javascript",
  "/OpenAction": "analysis.pdf-open-action",
  "/AA": "analysis.pdf-open-action",
  "/Launch": "analysis.pdf-launch",
  "/EmbeddedFile": "analysis.pdf-embedded-file",
  "/EmbeddedFiles": "analysis.pdf-embedded-file",
};

/**
 * PDF names that trigger active content, found in raw bytes with #xx escapes decoded
 * ("/J#61vaScript" is "/JavaScript"). Misses names inside compressed object streams.
 */
export function pdfActionsIn(text: string): Set<PdfActionId> {
  const found = new Set<PdfActionId>();
  for (const m of text.matchAll(/\/[A-Za-z0-9#]+/g)) {
    const name = m[0].replace(/#([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
    const id = NAME_ACTIONS[name];
    if (id) found.add(id);
  }
  return found;
}
