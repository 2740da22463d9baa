// Upload one or many files or whole study folders (drag and drop or pickers), a progress bar
// per file, and each verdict as it arrives over the WebSocket (polled if it does not).

import { api, uploadWithProgress } from "./api.js";
import { badge, bytes, h, show } from "./dom.js";
import { onEvent } from "./live.js";

const PARALLEL = 3;
const FINAL = new Set(["clean", "suspicious", "infected", "error"]);
const rows = new Map();
const waiting = [];
let running = 0;
let table;

export function uploadView(main) {
  const picker = h("input#file-input", { type: "file", multiple: true, onchange: (e) => enqueue([...e.target.files].map((f) => ({ file: f, path: f.name }))) });
  const folder = h("input#folder-input", { type: "file", webkitdirectory: true, onchange: (e) => enqueue([...e.target.files].map((f) => ({ file: f, path: f.webkitRelativePath || f.name }))) });
  const zone = h(
    "section#drop-zone.drop-zone",
    {
      ondragover: (e) => {
        e.preventDefault();
        zone.classList.add("over");
      },
      ondragleave: () => zone.classList.remove("over"),
      ondrop: async (e) => {
        e.preventDefault();
        zone.classList.remove("over");
        enqueue(await droppedFiles(e.dataTransfer));
      },
    },
    h("p", {}, "Drop files or a study folder here"),
    h("p", {}, h("label.button", {}, "Choose files", picker), " ", h("label.button", {}, "Choose a folder", folder)),
  );
  table ??= h("tbody#uploads");
  const recent = h("section#recent");
  show(main, h("h1", {}, "Upload"), zone, h("table.uploads", {}, h("thead", {}, h("tr", {}, h("th", {}, "File"), h("th", {}, "Size"), h("th", {}, "Progress"), h("th", {}, "Verdict"))), table), recent);
  showRecent(recent);
}

/** The user's files from before this page (the API's list, newest first), a page at a time. */
async function showRecent(el, after) {
  let page;
  try {
    page = await api("GET", `/api/medical-files?limit=20${after ? `&after=${encodeURIComponent(after)}` : ""}`);
  } catch (err) {
    show(el, h("h2", {}, "Your files"), h("p.error", {}, `${err.code}: ${err.message}`));
    return;
  }
  const body = after ? el.querySelector("tbody") : h("tbody");
  if (!after) {
    show(el, h("h2", {}, "Your files"));
    if (page.files.length === 0) return el.append(h("p", {}, "None yet."));
    el.append(h("table#recent-files", {}, h("thead", {}, h("tr", {}, ["File", "Size", "Uploaded", "Verdict"].map((c) => h("th", {}, c)))), body));
  }
  for (const f of page.files) {
    body.append(h("tr", { dataset: { status: f.status } }, h("td.name", {}, h("a", { href: `#/file/${encodeURIComponent(f.fileId)}` }, f.fileName || f.fileId)), h("td", {}, bytes(f.size)), h("td", {}, f.createdAt), h("td", {}, badge(f.status))));
  }
  el.querySelector("button.more")?.remove();
  if (page.next) el.append(h("button.more", { type: "button", onclick: () => showRecent(el, page.next) }, "Older files"));
}

onEvent((event) => {
  const row = event.fileId && rows.get(event.fileId);
  if (!row) return;
  if (event.type === "scan_progress") row.scan(event.progress);
  if (event.type === "scan_result") row.verdict(event.result.status);
});

/** Files from a drop, folders walked (readEntries answers in batches until it gives none). */
async function droppedFiles(transfer) {
  const entries = [...transfer.items].map((i) => i.webkitGetAsEntry?.()).filter(Boolean);
  if (entries.length === 0) return [...transfer.files].map((f) => ({ file: f, path: f.name }));
  const out = [];
  const walk = async (entry) => {
    if (entry.isFile) out.push({ file: await new Promise((ok, fail) => entry.file(ok, fail)), path: entry.fullPath.replace(/^\//, "") });
    else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (let batch; (batch = await new Promise((ok, fail) => reader.readEntries(ok, fail))).length > 0; ) for (const child of batch) await walk(child);
    }
  };
  for (const entry of entries) await walk(entry);
  return out;
}

function enqueue(items) {
  for (const item of items) {
    const row = makeRow(item);
    table.append(row.el);
    waiting.push(row);
  }
  pump();
}

function pump() {
  while (running < PARALLEL && waiting.length > 0) {
    const row = waiting.shift();
    running++;
    row.start().finally(() => {
      running--;
      pump();
    });
  }
}

function makeRow({ file, path }) {
  const bar = h("progress", { max: "100", value: "0" });
  const verdictCell = h("td.verdict", {}, badge("waiting"));
  const nameCell = h("td.name", {}, path);
  const el = h("tr", {}, nameCell, h("td", {}, bytes(file.size)), h("td", {}, bar), verdictCell);
  let fileId = null;
  let done = false;
  const row = {
    el,
    scan(percent) {
      if (!done) show(verdictCell, badge("scanning"), ` ${Math.round(percent)} %`);
    },
    verdict(status) {
      if (done) return;
      done = true;
      el.dataset.status = status;
      show(verdictCell, badge(status));
    },
    async start() {
      show(verdictCell, badge("uploading"));
      try {
        // The daemon checks a name, not a path: the folder part stays on this page.
        const answer = await uploadWithProgress(file, file.name, (f) => (bar.value = Math.round(f * 100)));
        bar.value = 100;
        fileId = answer.fileId;
        rows.set(fileId, row);
        show(nameCell, h("a", { href: `#/file/${encodeURIComponent(fileId)}` }, path));
        if (!done) show(verdictCell, badge("queued"));
        poll(fileId, row);
      } catch (err) {
        done = true;
        el.dataset.status = "refused";
        show(verdictCell, badge("refused"), ` ${err.code}: ${err.message}`);
      }
    },
    get done() {
      return done;
    },
  };
  return row;
}

/** The verdict by polling, for when the WebSocket misses it (reconnecting, a proxy that drops it). */
async function poll(fileId, row) {
  for (let wait = 2000; !row.done; wait = Math.min(wait * 1.5, 15_000)) {
    await new Promise((r) => setTimeout(r, wait));
    if (row.done) return;
    const file = await api("GET", `/api/medical-files/${encodeURIComponent(fileId)}`).catch(() => null);
    if (file && FINAL.has(file.status)) row.verdict(file.status);
  }
}
