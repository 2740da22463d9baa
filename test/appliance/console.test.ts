import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, it } from "node:test";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { CONSOLE_CSP } from "../../app/api/console-routes.ts";
import { buildDicom } from "../fixtures/dicom.ts";
import { eicar } from "../fixtures/eicar.ts";
import { Appliance } from "../harness/appliance.ts";
import { eventually } from "../harness/service-stack.ts";

/** What the functions run in the page touch (this project compiles without the DOM library). */
interface PageElement {
  textContent: string | null;
  value: string | number;
  hidden: boolean;
  dataset: Record<string, string | undefined>;
  querySelector(selector: string): PageElement | null;
  dispatchEvent(event: DragEvent): boolean;
}
declare const document: { cookie: string; body: PageElement; querySelector(selector: string): PageElement | null; querySelectorAll(selector: string): ArrayLike<PageElement>; addEventListener(type: "securitypolicyviolation", listener: (e: { violatedDirective: string; blockedURI: string }) => void): void };
declare const sessionStorage: { getItem(key: string): string | null };
declare class DataTransfer {
  readonly items: { add(file: File): void };
}
declare class DragEvent {
  constructor(type: string, init: { dataTransfer: DataTransfer; bubbles: boolean; cancelable: boolean });
}

/** Debian's chromium (docker/packages-test.txt); puppeteer-core never downloads a browser. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
/** `npm run screenshots` sets this to docs/screenshots, which the README shows. */
const SHOTS = process.env.SCREENSHOT_DIR;

describe("the web console at /ui, in a real browser (Chromium through puppeteer-core)", () => {
  let appliance: Appliance;
  let browser: Browser;
  let page: Page;
  let work: string;
  let userKey: string;
  let adminKey: string;
  const problems: string[] = [];
  const frames: string[] = [];

  const shot = async (name: string) => {
    if (SHOTS) await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  };
  const text = (selector: string) => page.$eval(selector, (el) => el.textContent ?? "");
  const signIn = async (key: string) => {
    await page.waitForSelector("#api-key");
    await page.$eval("#api-key", (el) => ((el as unknown as PageElement).value = ""));
    await page.type("#api-key", key);
    await page.click("#sign-in button[type=submit]");
  };

  before(async () => {
    appliance = await Appliance.start({ CLAMAV_OFFICIAL_DATABASES: "false" });
    userKey = (await appliance.key("ward-3", "premium")).key;
    adminKey = (await appliance.key("security-office", "enterprise", "--admin")).key;
    work = await mkdtemp(path.join(os.tmpdir(), "msd-console-"));
    if (SHOTS) await mkdir(SHOTS, { recursive: true });
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
    page = await browser.newPage();
    await page.setViewport({ width: 1200, height: 800 });
    page.on("pageerror", (err) => problems.push(`page error: ${(err as Error).message}`));
    page.on("console", (msg) => {
      if (msg.type() === "error") problems.push(`console: ${msg.text()}`);
    });
    await page.evaluateOnNewDocument(() => {
      document.addEventListener("securitypolicyviolation", (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`));
    });
    const cdp = await page.createCDPSession();
    await cdp.send("Network.enable");
    cdp.on("Network.webSocketFrameReceived", (e) => frames.push(e.response.payloadData));
  });
  after(async () => {
    await browser?.close();
    await appliance?.destroy();
    await rm(work, { recursive: true, force: true });
  });

  it("serves the page with a strict Content-Security-Policy and asks for a key", async () => {
    const res = await page.goto(`${appliance.base}/ui`, { waitUntil: "networkidle0" });
    assert.equal(res!.url(), `${appliance.base}/ui/`);
    assert.equal(res!.headers()["content-security-policy"], CONSOLE_CSP);
    assert.match(CONSOLE_CSP, /script-src 'self';/);
    assert.doesNotMatch(await res!.text(), /<script(?![^>]*\bsrc=)/, "no inline script");
    await page.waitForSelector("#sign-in");
    await shot("sign-in");
    await signIn("msd_not-a-real-key-not-a-real-key-not-a-real-k");
    await page.waitForFunction(() => document.querySelector("#sign-in .error")?.textContent?.includes("not valid"));
  });

  it("signs in with a key kept in sessionStorage only: not in the URL, not in a cookie", async () => {
    await signIn(userKey);
    await page.waitForSelector("#drop-zone");
    assert.equal(await page.evaluate(() => sessionStorage.getItem("msd.apiKey")), userKey);
    assert.equal(await page.evaluate(() => document.cookie), "");
    assert.ok(!page.url().includes(userKey));
    assert.deepEqual(await page.cookies(), []);
    await page.waitForFunction(() => document.body.dataset.live === "connected");
    assert.equal(await page.$eval("#nav-admin", (el) => (el as unknown as PageElement).hidden), true, "no administration for a user key");
  });

  it("uploads files with a progress bar each and shows each verdict live over the WebSocket; names are text, never markup", async () => {
    const clean = path.join(work, "CT0001.dcm");
    const infected = path.join(work, "referral.txt");
    const hostile = path.join(work, "<img src=x onerror=alert(1)>.dcm");
    await writeFile(clean, buildDicom());
    await writeFile(infected, eicar());
    await writeFile(hostile, buildDicom());
    const input = await page.$("#file-input");
    await input!.uploadFile(clean, infected, hostile);
    await page.waitForFunction(() => document.querySelectorAll("#uploads tr[data-status]").length === 3, { timeout: 60_000 });
    const rows = await page.$$eval("#uploads tr", (trs) => trs.map((tr) => ({ name: tr.querySelector("td.name")!.textContent, status: (tr as unknown as PageElement).dataset.status, progress: (tr.querySelector("progress") as unknown as PageElement).value })));
    assert.deepEqual(
      rows.map((r) => [r.name, r.status]),
      [
        ["CT0001.dcm", "clean"],
        ["referral.txt", "infected"],
        ["<img src=x onerror=alert(1)>.dcm", rows[2]!.status],
      ],
    );
    assert.ok(rows.every((r) => r.progress === 100), "every upload's bar reached 100");
    assert.equal(await page.$$eval("main img", (imgs) => imgs.length), 0, "the hostile name stayed text");
    const results = frames.map((f) => JSON.parse(f) as { type: string; fileId?: string; result?: { status: string } }).filter((f) => f.type === "scan_result");
    const live = new Set(results.map((r) => r.result!.status));
    assert.ok(live.has("clean") && live.has("infected"), "the verdicts came over the WebSocket");
    await shot("upload");
  });

  it("a whole study folder (the folder picker) and files dropped on the page upload the same way", async () => {
    const study = path.join(work, "STUDY1");
    await mkdir(path.join(study, "SERIES1"), { recursive: true });
    await writeFile(path.join(study, "SERIES1", "IM1"), buildDicom());
    await writeFile(path.join(study, "SERIES1", "IM2"), buildDicom());
    const before = (await page.$$("#uploads tr")).length;
    const folder = await page.$("#folder-input");
    await folder!.uploadFile(study);
    await page.evaluate(() => {
      const drop = new DataTransfer();
      drop.items.add(new File(["MSH|^~\\&|LAB|WARD|||20261201||ORU^R01|1|P|2.5\r"], "result.hl7"));
      document.querySelector("#drop-zone")!.dispatchEvent(new DragEvent("drop", { dataTransfer: drop, bubbles: true, cancelable: true }));
    });
    await page.waitForFunction((n) => document.querySelectorAll("#uploads tr[data-status]").length === n + 3, { timeout: 60_000 }, before);
    const added = await page.$$eval("#uploads tr", (trs, n) => trs.slice(n).map((tr) => [tr.querySelector("td.name")!.textContent, (tr as unknown as PageElement).dataset.status]), before);
    assert.deepEqual(added.sort(), [
      ["STUDY1/SERIES1/IM1", "clean"],
      ["STUDY1/SERIES1/IM2", "clean"],
      ["result.hl7", "clean"],
    ]);
  });

  it("a file page shows status, threat level, findings with their engine, engine versions, and offers the download only when clean", async () => {
    await page.click("#uploads tr[data-status=infected] a");
    await page.waitForSelector("#findings");
    assert.match(await text("dl.facts"), /infected/);
    assert.match(await text("dl.facts"), /Threat level(high|critical)/);
    const findings = await page.$$eval("#findings tbody tr", (trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent)));
    assert.ok(findings.some(([engine, id]) => engine === "clamav" && /EICAR/i.test(id!)), JSON.stringify(findings));
    assert.match(await text("#engines"), /clamav\s*yesClamAV \d/);
    assert.equal(await page.$("#download"), null);
    await shot("file-infected");

    await page.goBack();
    await page.waitForSelector("#uploads tr[data-status=clean] a");
    await page.click("#uploads tr[data-status=clean] a");
    await page.waitForSelector("#download");
    const downloads = path.join(work, "downloads");
    await mkdir(downloads);
    const cdp = await page.createCDPSession();
    await cdp.send("Browser.setDownloadBehavior", { behavior: "allow", downloadPath: downloads });
    await page.click("#download");
    await eventually(async () => (await readdir(downloads)).includes("CT0001.dcm"), 10_000, "the download");
    assert.deepEqual(await readFile(path.join(downloads, "CT0001.dcm")), await readFile(path.join(work, "CT0001.dcm")));
  });

  it("the upload page lists the user's earlier files with their verdicts (from the API, after a reload too)", async () => {
    await page.goto(`${appliance.base}/ui/#/`, { waitUntil: "networkidle0" });
    await page.waitForSelector("#recent-files");
    const recent = await page.$$eval("#recent-files tbody tr", (trs) => trs.map((tr) => [tr.querySelector("td.name")!.textContent, (tr as unknown as PageElement).dataset.status]));
    assert.equal(recent.length, 6);
    assert.deepEqual(recent.find(([name]) => name === "referral.txt"), ["referral.txt", "infected"]);
    assert.deepEqual(recent.find(([name]) => name === "CT0001.dcm"), ["CT0001.dcm", "clean"]);
  });

  it("signing out forgets the key", async () => {
    await page.click("#sign-out");
    await page.waitForSelector("#sign-in");
    assert.equal(await page.evaluate(() => sessionStorage.getItem("msd.apiKey")), null);
  });

  it("an admin sees the queue counts, the definitions' age and the quarantine, and releases an entry after confirming (audited)", async () => {
    await signIn(adminKey);
    await page.waitForSelector("#nav-admin:not([hidden])");
    await page.click("#nav-admin");
    // The three panels load side by side: wait for each, not only the quarantine.
    await Promise.all(["#quarantine-entries", "#queue dl", "#definitions-age"].map((selector) => page.waitForSelector(selector)));
    assert.match(await text("#queue"), /waiting\d+/);
    assert.match(await text("#definitions-age"), /^\d+(\.\d+)? h$/);
    const entries = await page.$$eval("#quarantine-entries tbody tr", (trs) => trs.map((tr) => (tr as unknown as PageElement).dataset.entry!));
    assert.ok(entries.length >= 1);
    await shot("admin");

    // Cancel leaves the entry held.
    await page.click(`tr[data-entry="${entries[0]}"] button.release`);
    await page.waitForSelector("#confirm[open]");
    await page.click("#confirm-cancel");
    await sleep(300);
    assert.ok(await page.$(`tr[data-entry="${entries[0]}"]`));

    await page.click(`tr[data-entry="${entries[0]}"] button.release`);
    await page.waitForSelector("#confirm[open]");
    await page.click("#confirm-ok");
    await page.waitForFunction((id) => !document.querySelector(`tr[data-entry="${id}"]`) && document.querySelector("#quarantine .message")?.textContent === "Released.", {}, entries[0]);
    const audit = await readFile(path.join(appliance.env.APPLIANCE_HOME!, "logs", "scan-audit.log"), "utf8");
    assert.match(audit, /"action":"quarantine_release"[^\n]*"actor":"security-office"|"actor":"security-office"[^\n]*"action":"quarantine_release"/);
  });

  it("no CSP violation, script error or console error on any page", () => {
    // Expected: the wrong key's 401, and the 403 that tells a user key from an admin key at sign-in.
    assert.deepEqual(problems.filter((p) => !/status of (401 \(Unauthorized\)|403 \(Forbidden\))/.test(p)), []);
  });
});
