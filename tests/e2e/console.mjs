// Browser tests of the web console (docs/console.md): a headless Chromium, driven through
// playwright-core, signs in, follows the navigation, reads the pages the way a reviewer does and
// checks the texts the console promises. tests/console_e2e.rs starts the servers and runs this
// script with the working directory where `npm ci` installed playwright-core
// (target/test-deps/e2e, see scripts/test-deps).
//
// Environment:
//   BASE        URL of a `modelgate serve` on the demo workspace (with a signed checkpoint)
//   SHORT_BASE  URL of a second server whose console sessions last 2 s
//   AUDITOR     an `auditor` token; PIPELINE a `pipeline` token
//   OUT         directory for full-page screenshots and the downloaded evidence pack
//   CHROMIUM    the browser (default /usr/bin/chromium)
//
// Prints `ok <scenario>` or `FAIL <scenario>: <why>` per scenario, in order, and exits 1 when
// one failed. Besides each scenario's own checks, every scenario fails on a browser console
// error, an uncaught page error, a Content-Security-Policy violation, a failed request, a 5xx
// or a console answer without the console's security headers.

import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";

const require = createRequire(path.join(process.cwd(), "package.json"));
const { chromium, request } = require("playwright-core");

const env = (name) => {
  const value = process.env[name];
  if (!value) {
    console.error(`console.mjs: ${name} is not set`);
    process.exit(2);
  }
  return value;
};
const BASE = env("BASE").replace(/\/$/, "");
const SHORT_BASE = env("SHORT_BASE").replace(/\/$/, "");
const AUDITOR = env("AUDITOR");
const PIPELINE = env("PIPELINE");
const OUT = env("OUT");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

const SESSION_COOKIE = "__Host-modelgate-session";
const PACK = path.join(OUT, "credit-risk-scorer-evidence.tar.gz");
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
  "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const PROOF_CHECKED = "Re-checked in this browser: the proof leads to the checkpoint's root.";
const DESKTOP = { width: 1280, height: 800 };
const LAPTOP = { width: 1440, height: 900 };
/** Per action: a page that is not there yet fails fast instead of eating the time budget. */
const ACTION_TIMEOUT_MS = 5_000;

fs.mkdirSync(OUT, { recursive: true });
fs.rmSync(PACK, { force: true });

// A run that hangs (a browser that never answers) still ends, and says so.
const watchdog = setTimeout(() => {
  console.log("FAIL run: the browser tests did not finish within 150 s");
  process.exit(1);
}, 150_000);

// ---- what every scenario is also checked for ----------------------------------------------

let current = "setup";
const problems = []; // { scenario, text }
const allowed = []; // regexes of console errors the current scenario expects
const problem = (text) => {
  if (allowed.some((re) => re.test(text))) return;
  problems.push({ scenario: current, text });
};

function headerProblems(response) {
  const url = response.url();
  const inConsole = [BASE, SHORT_BASE].some((b) => url.startsWith(`${b}/console`));
  if (!inConsole) return;
  const h = response.headers();
  const status = response.status();
  const where = `${status} ${new URL(url).pathname}`;
  if (status >= 500) problem(`${where}: server error`);
  if (h["content-security-policy"] !== CSP)
    problem(`${where}: Content-Security-Policy is ${JSON.stringify(h["content-security-policy"])}`);
  const expect = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
  };
  for (const [name, value] of Object.entries(expect)) {
    if (h[name] !== value) problem(`${where}: ${name} is ${JSON.stringify(h[name])}`);
  }
  if ((h["content-type"] || "").startsWith("text/html") && h["cache-control"] !== "no-store")
    problem(`${where}: an HTML page with cache-control ${JSON.stringify(h["cache-control"])}`);
}

function watch(page) {
  page.setDefaultTimeout(ACTION_TIMEOUT_MS);
  page.on("console", (msg) => {
    if (msg.type() !== "error") return;
    const at = msg.location()?.url || "";
    problem(`browser console error: ${msg.text()}${at ? ` (${at})` : ""}`);
  });
  page.on("pageerror", (err) => problem(`uncaught page error: ${err.message}`));
  page.on("response", headerProblems);
  page.on("requestfailed", (req) => {
    const failure = req.failure()?.errorText || "";
    // A download (the evidence pack) ends its navigation with ERR_ABORTED.
    if (failure.includes("ERR_ABORTED")) return;
    problem(`request failed: ${req.method()} ${req.url()}: ${failure}`);
  });
  return page;
}

// Violations also reach the console as errors ("Refused to …"); this says which directive and
// what was blocked, also for violations Chromium reports only as events.
const REPORT_CSP_VIOLATIONS = `
  document.addEventListener("securitypolicyviolation", (e) => {
    console.error("securitypolicyviolation: " + e.violatedDirective + " blocked " +
      (e.blockedURI || "inline") + " at " + (e.sourceFile || location.href) + ":" + e.lineNumber);
  });
`;

async function newContext(browser) {
  const context = await browser.newContext({ viewport: DESKTOP, acceptDownloads: true });
  await context.addInitScript({ content: REPORT_CSP_VIOLATIONS });
  return context;
}

// ---- helpers ------------------------------------------------------------------------------

function check(condition, message) {
  if (!condition) throw new Error(message);
}

const shots = new Map();
/** A full-page screenshot: OUT/<scenario>.png, then OUT/<scenario>-2.png, … */
async function shot(page) {
  const n = (shots.get(current) || 0) + 1;
  shots.set(current, n);
  const file = n === 1 ? `${current}.png` : `${current}-${n}.png`;
  await page.screenshot({ path: path.join(OUT, file), fullPage: true });
}

const pathOf = (page) => new URL(page.url()).pathname;

async function h1(page) {
  return (await page.locator("main h1").first().textContent({ timeout: ACTION_TIMEOUT_MS })).trim();
}

async function expectH1(page, text) {
  const got = await h1(page);
  check(got === text, `the heading is "${got}", not "${text}" (at ${page.url()})`);
}

async function expectH2s(page, names) {
  const have = (await page.locator("main h2").allTextContents()).map((s) => s.trim());
  const missing = names.filter((n) => !have.includes(n));
  check(missing.length === 0, `no section ${missing.map((m) => `"${m}"`).join(", ")} (sections: ${JSON.stringify(have)})`);
}

/** Polls `probe` (which may throw while a page reloads) until it returns a truthy value. */
async function poll(probe, timeoutMs, what) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last) return last;
    } catch (e) {
      last = e.message.split("\n")[0];
    }
    if (Date.now() > end) throw new Error(`${what} (waited ${timeoutMs / 1000} s; last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The table with this caption: its column headings and the cells of every body row. */
async function readTable(page, caption) {
  const table = page.locator(`table:has(> caption:text-is("${caption}"))`);
  await table.first().waitFor({ timeout: ACTION_TIMEOUT_MS }).catch(() => {
    throw new Error(`no table with caption "${caption}" at ${page.url()}`);
  });
  const headings = (await table.locator('th[scope="col"]').allTextContents()).map((s) => s.trim());
  const rows = table.locator("tr:has(> td)");
  const cells = [];
  for (let i = 0; i < (await rows.count()); i++) {
    cells.push((await rows.nth(i).locator(":scope > th, :scope > td").allTextContents()).map((s) => s.trim()));
  }
  return { table, headings, rows, cells };
}

function expectColumns(t, caption, columns) {
  check(
    JSON.stringify(t.headings) === JSON.stringify(columns),
    `table "${caption}" has columns ${JSON.stringify(t.headings)}, not ${JSON.stringify(columns)}`,
  );
}

async function nav(page, label) {
  await page.getByRole("navigation", { name: "Console" }).getByRole("link", { name: label, exact: true }).click();
  await page.waitForLoadState("load");
  const current = page.getByRole("navigation", { name: "Console" }).locator('a[aria-current="page"]');
  const marked = (await current.textContent()).trim();
  check(marked === label, `the navigation marks "${marked}" as the current page, not "${label}"`);
}

async function signIn(page, base, token) {
  await page.goto(`${base}/console/login`);
  await page.getByLabel("Token", { exact: true }).fill(token);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.waitForLoadState("load");
}

async function mainText(page) {
  return (await page.locator("main").textContent()).replace(/\s+/g, " ");
}

// ---- scenarios ----------------------------------------------------------------------------

const scenarios = [];
const scenario = (name, run, { allowErrors = [] } = {}) => scenarios.push({ name, run, allowErrors });
const notes = new Map();
const note = (text) => notes.set(current, text);

let browser;
let signedIn; // the context of the auditor's session on BASE
let firstDenied; // path of the first denied decision the list showed

scenario(
  "wrong-role",
  async () => {
    const context = await newContext(browser);
    try {
      const page = watch(await context.newPage());
      await page.goto(`${BASE}/console`);
      check(pathOf(page) === "/console/login", `/console without a session went to ${page.url()}, not the sign-in page`);
      check(new URL(page.url()).searchParams.get("next") === "/console", `the sign-in page does not return to /console: ${page.url()}`);
      await expectH1(page, "Sign in");
      await shot(page);
      await page.getByLabel("Token", { exact: true }).fill(PIPELINE);
      await page.getByRole("button", { name: "Sign in", exact: true }).click();
      await page.waitForLoadState("load");
      check(pathOf(page) === "/console/login", `a pipeline token left the sign-in page for ${page.url()}`);
      const alert = (await page.getByRole("alert").textContent()).trim();
      check(alert.includes("needs a token of role `auditor`"), `the alert says "${alert}"`);
      check(alert.includes("`pipeline`"), `the alert does not name the token's role: "${alert}"`);
      const cookies = await context.cookies(BASE);
      check(!cookies.some((c) => c.name === SESSION_COOKIE && c.value), "a pipeline token got a session cookie");
      await shot(page);
    } finally {
      await context.close();
    }
  },
  // The refusal is a 403 page, which Chromium also reports as a failed resource.
  { allowErrors: [/Failed to load resource: the server responded with a status of 403/] },
);

scenario("login", async () => {
  signedIn = await newContext(browser);
  const page = watch(await signedIn.newPage());
  await page.goto(`${BASE}/console/login`);
  await expectH1(page, "Sign in");
  const field = page.getByLabel("Token", { exact: true });
  check((await field.getAttribute("type")) === "password", "the token field is not a password field");
  await field.fill(AUDITOR);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.waitForURL(`${BASE}/console`);
  await expectH1(page, "Overview");
  const cookie = (await signedIn.cookies(BASE)).find((c) => c.name === SESSION_COOKIE);
  check(cookie && cookie.value, `no ${SESSION_COOKIE} cookie after signing in`);
  check(cookie.httpOnly === true, "the session cookie is not HttpOnly");
  check(cookie.sameSite === "Strict", `the session cookie is SameSite ${cookie.sameSite}, not Strict`);
  check(cookie.secure === true, "the session cookie is not Secure");
  check(cookie.path === "/", `the session cookie has path ${cookie.path}`);
  check(!(await page.content()).includes(AUDITOR), "the page repeats the token");
  const readable = await page.evaluate(() => document.cookie);
  check(!readable.includes(cookie.value), "a script can read the session cookie");
  await shot(page);
  await page.setViewportSize(LAPTOP);
  await page.screenshot({ path: path.join(OUT, "overview-laptop.png"), fullPage: true });
  await page.close();
});

scenario("navigation", async () => {
  const page = watch(await signedIn.newPage());
  await page.goto(`${BASE}/console`);
  const links = (await page.getByRole("navigation", { name: "Console" }).getByRole("link").allTextContents()).map((s) => s.trim());
  const expected = ["Overview", "Decisions", "Models", "Ledger", "Reports"];
  check(JSON.stringify(links) === JSON.stringify(expected), `the navigation links are ${JSON.stringify(links)}`);
  for (const [label, to] of [["Decisions", "/console/decisions"], ["Models", "/console/models"], ["Ledger", "/console/ledger"], ["Reports", "/console/reports"], ["Overview", "/console"]]) {
    await nav(page, label);
    check(pathOf(page) === to, `the ${label} link went to ${page.url()}, not ${to}`);
    await expectH1(page, label);
  }
  await page.close();
});

scenario("overview", async () => {
  const page = watch(await signedIn.newPage());
  await page.goto(`${BASE}/console`);
  await expectH1(page, "Overview");
  await shot(page);
  await expectH2s(page, ["Ledger", "KPIs per tier", "Decisions per week", "Open findings", "Expiring in the next 30 days"]);
  await page.close();
});

scenario("decisions", async () => {
  const page = watch(await signedIn.newPage());
  await page.goto(`${BASE}/console`);
  await nav(page, "Decisions");
  check(pathOf(page) === "/console/decisions", `the Decisions link went to ${page.url()}`);
  await expectH1(page, "Decisions");
  await shot(page);
  const all = await readTable(page, "Decisions");
  expectColumns(all, "Decisions", ["Index", "Time", "Model", "Version", "Environment", "Outcome"]);
  const form = page.locator("form.filters");
  check((await form.getAttribute("method"))?.toLowerCase() === "get", "the filter form is not a GET form");
  for (const label of ["Model", "Environment", "Outcome", "Since", "Until"]) {
    await form.getByLabel(label, { exact: true }).waitFor();
  }
  await form.getByLabel("Outcome", { exact: true }).selectOption("deny");
  await form.getByRole("button", { name: "Filter", exact: true }).click();
  await page.waitForURL((u) => u.pathname === "/console/decisions" && u.searchParams.get("outcome") === "deny");
  await shot(page);
  const denied = await readTable(page, "Decisions");
  check(denied.cells.length > 0, "no row for outcome deny (the demo holds denied decisions)");
  const col = denied.headings.indexOf("Outcome");
  denied.cells.forEach((row, i) =>
    check(row[col] === "deny", `row ${i + 1} has outcome "${row[col]}" under the filter outcome=deny`),
  );
  const spans = await denied.rows.locator("span.outcome.deny").count();
  check(spans === denied.cells.length, `${spans} of ${denied.cells.length} rows mark the outcome with span.outcome.deny`);
  const link = denied.rows.first().locator(":scope > th, :scope > td").nth(denied.headings.indexOf("Index")).locator("a");
  firstDenied = await link.getAttribute("href");
  check(/^\/console\/decisions\/\d+$/.test(firstDenied || ""), `the index cell links to ${firstDenied}`);
  await page.close();
});

scenario("decision", async () => {
  const page = watch(await signedIn.newPage());
  await page.goto(`${BASE}/console/decisions?outcome=deny`);
  const list = await readTable(page, "Decisions");
  check(list.cells.length > 0, "no denied decision to open");
  const link = list.rows.first().locator(":scope > th, :scope > td").nth(list.headings.indexOf("Index")).locator("a");
  const index = (await link.textContent()).trim();
  await link.click();
  await page.waitForURL((u) => u.pathname === `/console/decisions/${index}`);
  await expectH1(page, `Decision ${index}`);
  check((await page.locator("main p.outcome.deny").count()) === 1, "the page does not show the outcome as p.outcome.deny");
  await expectH2s(page, ["Request", "Reasons", "Approvals", "Waivers", "Findings", "Inclusion proof", "Replay", "Ledger record"]);
  const reasons = await readTable(page, "Reasons");
  expectColumns(reasons, "Reasons", ["Policy", "Effect", "Reason", "Controls", "Compared values"]);
  const [policy, controls] = ["Policy", "Controls"].map((c) => reasons.headings.indexOf(c));
  check(
    reasons.cells.some((r) => r[policy] && r[controls]),
    `no reason names a policy and its controls: ${JSON.stringify(reasons.cells)}`,
  );
  // The server's check, then the browser's own (console.js) against the same checkpoint.
  const text = await mainText(page);
  if (/The inclusion proof verifies against the signed checkpoint of size \d+\./.test(text)) {
    const said = await poll(
      async () => {
        const t = ((await page.locator("#proof-browser-check").textContent({ timeout: 1000 })) || "").trim();
        if (t && t !== PROOF_CHECKED && !/^Re-checking/i.test(t)) throw new Error(`the browser check says "${t}"`);
        return t === PROOF_CHECKED && t;
      },
      10_000,
      `#proof-browser-check does not say "${PROOF_CHECKED}"`,
    );
    check(said === PROOF_CHECKED, said);
    // The check can fail: a changed audit path, then changed record bytes, are refused.
    const recheckWith = async (attr, change) => {
      await page.evaluate(([a, c]) => {
        const el = document.getElementById("proof-browser-check");
        const v = el.dataset[a];
        el.dataset[a] = c === "flip-hex" ? (v[0] === "0" ? "1" : "0") + v.slice(1) : btoa(atob(v) + " ");
        window.modelgateRecheckProof();
      }, [attr, change]);
      return poll(
        async () => {
          const t = ((await page.locator("#proof-browser-check").textContent({ timeout: 1000 })) || "").trim();
          return t !== PROOF_CHECKED && t;
        },
        5_000,
        `changing data-${attr} did not change the browser's verdict`,
      );
    };
    const original = await page.evaluate(() => ({ ...document.getElementById("proof-browser-check").dataset }));
    const badPath = await recheckWith("proof", "flip-hex");
    check(/does NOT lead to the checkpoint's root/.test(badPath), `a changed audit path: "${badPath}"`);
    await page.evaluate((o) => Object.assign(document.getElementById("proof-browser-check").dataset, o), original);
    const badBytes = await recheckWith("record", "append");
    check(/do NOT hash to the leaf hash shown/.test(badBytes), `changed record bytes: "${badBytes}"`);
    await page.evaluate((o) => Object.assign(document.getElementById("proof-browser-check").dataset, o), original);
  } else {
    const why = text.match(/[^.]*\bcheckpoint\b[^.]*\./i);
    check(why && /\b(no|not|yet)\b/i.test(why[0]), 'the section "Inclusion proof" neither verifies the proof nor says why not');
    note(`no checkpoint covers decision ${index}: "${why[0].trim()}"`);
  }
  await shot(page);
  await page.getByRole("link", { name: "Replay this decision", exact: true }).click();
  await page.waitForURL((u) => u.searchParams.get("replay") === "1");
  await page.getByText("Replay reproduced this decision.", { exact: true }).waitFor();
  await shot(page);
  await page.close();
});

scenario("models", async () => {
  const page = watch(await signedIn.newPage());
  await page.goto(`${BASE}/console`);
  await nav(page, "Models");
  check(pathOf(page) === "/console/models", `the Models link went to ${page.url()}`);
  await expectH1(page, "Models");
  const models = await readTable(page, "Models");
  expectColumns(models, "Models", ["Model", "Tier", "Versions", "Completeness", "Current", "Gaps"]);
  await page.getByLabel("Model name contains", { exact: true }).fill("credit-risk");
  await page.getByRole("button", { name: "Filter", exact: true }).click();
  await page.waitForURL((u) => u.searchParams.get("q") === "credit-risk");
  const filtered = await readTable(page, "Models");
  check(filtered.cells.length > 0, 'the filter "credit-risk" shows no model');
  filtered.cells.forEach((r) => check(r[0].includes("credit-risk"), `the filter "credit-risk" shows ${r[0]}`));
  await shot(page);
  await page.getByRole("link", { name: "credit-risk-scorer", exact: true }).click();
  await page.waitForURL((u) => u.pathname === "/console/models/credit-risk-scorer");
  await expectH1(page, "credit-risk-scorer");
  await expectH2s(page, ["Versions across environments", "Owners", "Approvals", "Gaps", "Evidence"]);
  await shot(page);
  const download = page.getByRole("link", { name: "Download evidence pack", exact: true });
  check(
    (await download.getAttribute("href")) === "/console/models/credit-risk-scorer/evidence",
    `the download link goes to ${await download.getAttribute("href")}`,
  );
  check((await download.getAttribute("download")) !== null, "the download link has no download attribute");
  const [pack] = await Promise.all([page.waitForEvent("download", { timeout: 15_000 }), download.click()]);
  check(!(await pack.failure()), `the download failed: ${await pack.failure()}`);
  await pack.saveAs(PACK);
  const bytes = fs.readFileSync(PACK);
  check(bytes.length > 100 && bytes[0] === 0x1f && bytes[1] === 0x8b, `the evidence pack (${bytes.length} bytes) is not gzip`);
  note(`evidence pack ${bytes.length} bytes`);
  await page.close();
});

scenario("ledger", async () => {
  const page = watch(await signedIn.newPage());
  await page.goto(`${BASE}/console`);
  await nav(page, "Ledger");
  check(pathOf(page) === "/console/ledger", `the Ledger link went to ${page.url()}`);
  await expectH1(page, "Ledger");
  await expectH2s(page, ["Latest checkpoint", "Checkpoints", "Verify the whole ledger"]);
  const checkpoints = await readTable(page, "Checkpoints");
  expectColumns(checkpoints, "Checkpoints", ["Size", "Signature", "Root", "Consistent with the previous"]);
  check(checkpoints.cells.length > 0, "the Checkpoints table is empty (the workspace holds a signed checkpoint)");
  await shot(page);
  const verify = page.getByRole("button", { name: "Verify now", exact: true });
  const form = page.locator("form", { has: verify });
  check((await form.getAttribute("method"))?.toLowerCase() === "post", "Verify now is not a POST form");
  check((await form.locator('input[type="hidden"][name="csrf"]').count()) === 1, "the Verify now form carries no csrf field");
  await verify.click();
  await page.waitForURL((u) => /^\/console\/ledger\/verify\/[^/]+$/.test(u.pathname));
  await expectH1(page, "Ledger verification");
  const outcome = await poll(
    async () => {
      const failed = page.locator('main p.error[role="alert"]');
      if (await failed.count()) throw new Error((await failed.first().textContent()).trim());
      const passed = page.locator('main p.notice[role="status"]');
      const t = (await passed.count()) ? (await passed.first().textContent()).trim() : "";
      return t.startsWith("Verification passed") && t;
    },
    20_000,
    'the page never said "Verification passed"',
  );
  note(outcome);
  await shot(page);
  await page.close();
});

scenario("reports", async () => {
  const page = watch(await signedIn.newPage());
  await page.goto(`${BASE}/console`);
  await nav(page, "Reports");
  check(pathOf(page) === "/console/reports", `the Reports link went to ${page.url()}`);
  await expectH1(page, "Reports");
  await shot(page);
  const kept = page.locator('table:has(> caption:text-is("Kept reports"))');
  if (await kept.count()) {
    const t = await readTable(page, "Kept reports");
    expectColumns(t, "Kept reports", ["Name", "As of", "Generated", "Population", "Download"]);
    for (const format of ["HTML", "JSON", "CSV"]) {
      const href = await t.rows.first().getByRole("link", { name: format, exact: true }).getAttribute("href");
      check(new RegExp(`^/console/reports/[^/]+/${format.toLowerCase()}$`).test(href || ""), `the ${format} link goes to ${href}`);
    }
    note(`${t.cells.length} kept report(s)`);
  } else {
    const text = await mainText(page);
    check(
      /\b(no|none)\b[^.]*\breports?\b|\breports?\b[^.]*\b(none|not)\b/i.test(text),
      `neither a "Kept reports" table nor a sentence saying none is kept: "${text.trim()}"`,
    );
    note("no report kept");
  }
  await page.close();
});

scenario("keyboard", async () => {
  const page = watch(await signedIn.newPage());
  await page.goto(`${BASE}/console`);
  const focused = page.locator(":focus");
  await page.keyboard.press("Tab");
  const skip = (await focused.textContent()).trim();
  check(skip === "Skip to content", `the first Tab focuses "${skip}", not the skip link`);
  check(await focused.isVisible(), "the focused skip link is not visible");
  await shot(page);
  for (const label of ["Overview", "Decisions", "Models", "Ledger", "Reports"]) {
    await page.keyboard.press("Tab");
    const got = (await focused.textContent()).trim();
    const inNav = await focused.evaluate((el) => el.tagName === "A" && el.closest("nav") !== null);
    check(got === label && inNav, `Tab focuses "${got}", not the navigation link "${label}"`);
  }
  await page.goto(`${BASE}/console`);
  await page.keyboard.press("Tab");
  await page.keyboard.press("Enter");
  const id = await poll(() => focused.getAttribute("id", { timeout: 1000 }), 2000, "the skip link moves focus nowhere");
  check(id === "main", `the skip link moves focus to #${id}, not #main`);
  await page.close();
});

scenario("sign-out", async () => {
  const page = watch(await signedIn.newPage());
  await page.goto(`${BASE}/console`);
  await page.getByRole("button", { name: "Sign out", exact: true }).click();
  await page.waitForURL((u) => u.pathname === "/console/login");
  await expectH1(page, "Sign in");
  const status = (await page.getByRole("status").textContent()).trim();
  check(status === "You are signed out.", `the sign-in page says "${status}"`);
  const left = (await signedIn.cookies(BASE)).find((c) => c.name === SESSION_COOKIE && c.value);
  check(!left, "the session cookie outlived signing out");
  await shot(page);
  await page.goto(`${BASE}/console`);
  check(pathOf(page) === "/console/login", `/console after signing out is ${page.url()}, not the sign-in page`);
  await expectH1(page, "Sign in");
  await shot(page);
  await page.close();
});

scenario("expired-session", async () => {
  const context = await newContext(browser);
  try {
    const page = watch(await context.newPage());
    await signIn(page, SHORT_BASE, AUDITOR);
    check(pathOf(page) === "/console", `signing in went to ${page.url()}`);
    await expectH1(page, "Overview");
    const cookie = (await context.cookies(SHORT_BASE)).find((c) => c.name === SESSION_COOKIE);
    check(cookie && cookie.value, "no session cookie");
    await new Promise((r) => setTimeout(r, 3000));
    await page.goto(`${SHORT_BASE}/console/decisions`);
    check(pathOf(page) === "/console/login", `an ended session still opened ${page.url()}`);
    check(
      new URL(page.url()).searchParams.get("next") === "/console/decisions",
      `the sign-in page does not return to the page asked for: ${page.url()}`,
    );
    await shot(page);
    // The browser dropped its cookie; the server must refuse the session too.
    const client = await request.newContext();
    try {
      const answer = await client.get(`${SHORT_BASE}/console/decisions`, {
        headers: { cookie: `${SESSION_COOKIE}=${cookie.value}` },
        maxRedirects: 0,
      });
      const to = answer.headers()["location"] || "";
      check(answer.status() === 303 && to.startsWith("/console/login"), `the server still honours an ended session: ${answer.status()} ${to}`);
    } finally {
      await client.dispose();
    }
  } finally {
    await context.close();
  }
});

// ---- run ----------------------------------------------------------------------------------

const started = Date.now();
let failed = 0;
try {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
} catch (e) {
  console.log(`FAIL launch: ${e.message.split("\n")[0]}`);
  process.exit(1);
}
for (const s of scenarios) {
  current = s.name;
  allowed.splice(0, allowed.length, ...s.allowErrors);
  const t0 = Date.now();
  let why = null;
  try {
    await s.run();
  } catch (e) {
    why = String(e?.message || e).split("\n").filter(Boolean).slice(0, 2).join(" / ").slice(0, 400);
  }
  // Late events (a console error while a page closes) still count for the scenario.
  await new Promise((r) => setTimeout(r, 50));
  const seen = problems.filter((p) => p.scenario === s.name).map((p) => p.text);
  if (!why && seen.length) why = seen.join("; ");
  else if (why && seen.length) why += `; also: ${seen.join("; ")}`;
  const ms = Date.now() - t0;
  if (why) {
    failed++;
    console.log(`FAIL ${s.name}: ${why}`);
  } else {
    const extra = notes.has(s.name) ? `: ${notes.get(s.name)}` : "";
    console.log(`ok ${s.name} (${ms} ms)${extra}`);
  }
}
await browser.close();
clearTimeout(watchdog);
console.log(`# ${scenarios.length} scenarios, ${failed} failed, ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${OUT}`);
process.exit(failed ? 1 : 0);
