// One file: its status, threat level, findings with their engine, the engines with their
// versions (ClamAV's carries its definitions), and the download while it is clean.

import { api, download } from "./api.js";
import { badge, bytes, h, show } from "./dom.js";

export async function fileView(main, fileId) {
  show(main, h("p", {}, "Loading…"));
  let file;
  try {
    file = await api("GET", `/api/medical-files/${encodeURIComponent(fileId)}`);
  } catch (err) {
    show(main, h("h1", {}, "File"), h("p.error", {}, `${err.code}: ${err.message}`));
    return;
  }
  const result = file.latestScan?.results;
  const message = h("p.message");
  const actions = h("p.actions");
  if (file.status === "clean") {
    actions.append(
      h("button#download", { type: "button", onclick: () => download(file.fileId, file.fileName).catch((err) => show(message, `${err.code}: ${err.message}`)) }, "Download"),
    );
  }
  actions.append(
    h(
      "button#rescan",
      {
        type: "button",
        onclick: async () => {
          try {
            await api("POST", `/api/medical-files/${encodeURIComponent(file.fileId)}/rescan`);
            show(message, "Rescan queued.");
          } catch (err) {
            show(message, `${err.code}: ${err.message}`);
          }
        },
      },
      "Rescan",
    ),
  );
  show(
    main,
    h("h1", {}, file.fileName || file.fileId),
    h(
      "dl.facts",
      {},
      fact("Status", badge(file.status)),
      fact("Threat level", result?.threatLevel ?? "–"),
      fact("File id", file.fileId),
      fact("Size", bytes(file.size)),
      fact("Type", result?.fileType ?? file.detectedType ?? "–"),
      fact("SHA-256", h("code", {}, file.sha256)),
      fact("Tier", file.tier),
      fact("Scanned", file.latestScan?.created_at ?? "not yet"),
    ),
    actions,
    message,
    result ? findingsTable(result.findings) : null,
    result ? enginesTable(result.engines) : null,
    result?.recommendations?.length ? h("section", {}, h("h2", {}, "Recommendations"), h("ul", {}, result.recommendations.map((r) => h("li", {}, r)))) : null,
  );
}

const fact = (label, value) => [h("dt", {}, label), h("dd", {}, value)];

function findingsTable(findings) {
  if (findings.length === 0) return h("section", {}, h("h2", {}, "Findings"), h("p", {}, "None."));
  return h(
    "section",
    {},
    h("h2", {}, "Findings"),
    h(
      "table#findings",
      {},
      h("thead", {}, h("tr", {}, ["Engine", "Finding", "Severity", "Verdict", "Description"].map((c) => h("th", {}, c)))),
      h("tbody", {}, findings.map((f) => h("tr", {}, h("td", {}, f.engine), h("td", {}, h("code", {}, f.id)), h("td", {}, f.severity), h("td", {}, f.verdict ?? ""), h("td", {}, f.description ?? "")))),
    ),
  );
}

function enginesTable(engines) {
  return h(
    "section",
    {},
    h("h2", {}, "Engines"),
    h(
      "table#engines",
      {},
      h("thead", {}, h("tr", {}, ["Engine", "Ran", "Version and definitions", "Time", "Problem"].map((c) => h("th", {}, c)))),
      h(
        "tbody",
        {},
        Object.entries(engines).map(([name, run]) =>
          h("tr", {}, h("td", {}, name), h("td", {}, run.ran ? "yes" : "no"), h("td", {}, run.version ?? "–", run.signatures === "development" ? " (development signatures)" : ""), h("td", {}, run.ms === undefined ? "" : `${run.ms} ms`), h("td", {}, run.error ? `${run.error.code}: ${run.error.message}` : "")),
        ),
      ),
    ),
  );
}
