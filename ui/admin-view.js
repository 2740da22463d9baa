// For admin keys: the quarantine (release and delete, each confirmed; the daemon audits
// both), the queue's counts and the age of the ClamAV definitions.

import { api } from "./api.js";
import { badge, bytes, confirmAction, h, show } from "./dom.js";

export async function adminView(main) {
  const counts = h("section#queue");
  const definitions = h("section#definitions");
  const quarantine = h("section#quarantine");
  show(main, h("h1", {}, "Administration"), h("div.cards", {}, counts, definitions), quarantine);
  await Promise.all([showCounts(counts), showDefinitions(definitions), showQuarantine(quarantine)]);
}

async function showCounts(el) {
  try {
    const c = await api("GET", "/api/medical-files/scan-queue");
    show(el, h("h2", {}, "Scan queue"), h("dl.facts", {}, ["waiting", "active", "delayed", "completed", "failed"].map((k) => [h("dt", {}, k), h("dd", { dataset: { count: k } }, String(c[k] ?? 0))])));
  } catch (err) {
    show(el, h("h2", {}, "Scan queue"), h("p.error", {}, `${err.code}: ${err.message}`));
  }
}

async function showDefinitions(el) {
  // Readiness answers 503 with the same body when something is not ready: read it either way.
  const res = await fetch("/health/ready", { cache: "no-store" }).catch(() => null);
  const body = res ? await res.json().catch(() => null) : null;
  const clamd = body?.checks?.clamd;
  show(
    el,
    h("h2", {}, "ClamAV definitions"),
    clamd
      ? h("dl.facts", {}, h("dt", {}, "State"), h("dd", {}, badge(clamd.ok ? "up" : clamd.state)), h("dt", {}, "Version"), h("dd", {}, clamd.version ?? "–"), h("dt", {}, "Age"), h("dd#definitions-age", {}, clamd.definitionsAgeHours === undefined ? "unknown" : `${clamd.definitionsAgeHours} h`))
      : h("p.error", {}, "The readiness check did not answer."),
  );
}

async function showQuarantine(el) {
  let entries;
  try {
    entries = (await api("GET", "/api/admin/quarantine?state=held")).entries;
  } catch (err) {
    show(el, h("h2", {}, "Quarantine"), h("p.error", {}, `${err.code}: ${err.message}`));
    return;
  }
  const message = h("p.message");
  const act = async (entry, verb) => {
    const what = verb === "release" ? "Release this file to its owner? It will be downloadable if a rescan finds it clean." : "Delete this file for good?";
    if (!(await confirmAction(`${what} (${entry.fileId}, ${entry.verdict})`))) return;
    try {
      if (verb === "release") await api("POST", `/api/admin/quarantine/${encodeURIComponent(entry.id)}/release`);
      else await api("DELETE", `/api/admin/quarantine/${encodeURIComponent(entry.id)}`);
      await showQuarantine(el);
      show(el.querySelector(".message"), verb === "release" ? "Released." : "Deleted.");
    } catch (err) {
      show(message, `${err.code}: ${err.message}`);
    }
  };
  show(
    el,
    h("h2", {}, `Quarantine (${entries.length} held)`),
    message,
    entries.length === 0
      ? h("p", {}, "Nothing is held.")
      : h(
          "table#quarantine-entries",
          {},
          h("thead", {}, h("tr", {}, ["File", "Verdict", "Threat", "Size", "Held since", ""].map((c) => h("th", {}, c)))),
          h(
            "tbody",
            {},
            entries.map((e) =>
              h(
                "tr",
                { dataset: { entry: e.id } },
                h("td", {}, e.fileId),
                h("td", {}, badge(e.verdict)),
                h("td", {}, e.threatLevel),
                h("td", {}, bytes(e.size)),
                h("td", {}, e.createdAt),
                h("td", {}, h("button.release", { type: "button", onclick: () => act(e, "release") }, "Release"), " ", h("button.delete.danger", { type: "button", onclick: () => act(e, "delete") }, "Delete")),
              ),
            ),
          ),
        ),
  );
}
