// Opens report files in Debian's headless Chromium through playwright-core (no browser can be
// downloaded here). A missing Chromium fails the test: a skipped browser test proves nothing.
import { existsSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.AEG_CHROMIUM ?? "/usr/bin/chromium";

/** No network here: without these, Chromium's own connection attempts are refused and logged. */
const OFFLINE_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

export interface RenderedReport {
  file: string;
  /** Console errors and uncaught page errors. */
  errors: string[];
  /** Requests for anything but the file itself: a self-contained report makes none. */
  requests: string[];
  summaryVisible: boolean;
  resultText: string;
  scenarioIds: string[];
  visibleScenarios: string[];
  failedRowsVisible: number;
  screenshot: string;
}

export async function openReports(files: string[], screenshotDir: string): Promise<RenderedReport[]> {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium is missing at ${CHROMIUM}: install it (apt-get install -y chromium; .ci/run does) to run the browser test`);
  const context = await chromium.launchPersistentContext(await mkdtemp(path.join(screenshotDir, "profile-")), { executablePath: CHROMIUM, headless: true, args: OFFLINE_FLAGS, viewport: { width: 1280, height: 900 } });
  try {
    const seen: RenderedReport[] = [];
    for (const [i, file] of files.entries()) {
      const page = await context.newPage();
      const url = pathToFileURL(file).href;
      const errors: string[] = [];
      const requests: string[] = [];
      page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
      page.on("pageerror", (e) => errors.push(e.message));
      page.on("request", (r) => r.url() !== url && requests.push(r.url()));
      await page.goto(url, { waitUntil: "load" });
      const rows = page.locator("tr.scenario");
      const scenarioIds = await rows.evaluateAll((els) => els.map((el) => el.getAttribute("data-correlation-id") ?? ""));
      const visibleScenarios: string[] = [];
      for (const id of scenarioIds) if (await page.locator(`tr.scenario[data-correlation-id="${id}"]`).isVisible()) visibleScenarios.push(id);
      let failedRowsVisible = 0;
      for (const row of await page.locator("tr.scenario.failed").all()) if (await row.isVisible()) failedRowsVisible++;
      const screenshot = path.join(screenshotDir, `report-${i + 1}.png`);
      await page.screenshot({ path: screenshot, fullPage: true });
      seen.push({
        file,
        errors,
        requests,
        summaryVisible: await page.locator("#summary dl").isVisible(),
        resultText: (await page.locator("#result").innerText()).trim(),
        scenarioIds,
        visibleScenarios,
        failedRowsVisible,
        screenshot,
      });
      await page.close();
    }
    return seen;
  } finally {
    await context.close();
  }
}
