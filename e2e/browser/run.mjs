// The dashboard's browser suite: Debian's chromium-headless-shell driven by
// playwright-core, run by e2e/browser_test.go against a real 'abra dashboard'.
//
//   node run.mjs <sign-in URL> [config JSON]
//
// config: {"app": "<domain of a deployed app>",
//          "trigger": ["docker", "exec", "<container>", "sh", "-c"]}
// where trigger + [": > /tmp/go<N>"] makes the app's log service print its
// next batch of lines (1: lines 1–1,000; 2: to 10,000; 3: to 10,500), each
// "line <n> end"; before the first it says "waiting" every half second.
//
// It prints one JSON report on stdout (the Go test asserts on it) and
// progress on stderr. It never decides pass or fail itself, except that a
// broken run (no browser, no page) exits 1 with the reason in the report.
import { spawnSync } from "node:child_process";
import http from "node:http";
import { chromium } from "playwright-core";
import { AxeBuilder } from "@axe-core/playwright";

const CHROMIUM = process.env.CHROMIUM || "/usr/lib/chromium/chromium-headless-shell";
const WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"];
const WAIT = 120_000; // ms: how long to wait for something that must happen (not an assertion on time)
const MAX_PAGES = 30;

const signIn = process.argv[2];
const config = JSON.parse(process.argv[3] || "{}");
if (!signIn) {
  console.error("usage: node run.mjs <sign-in URL> [config JSON]");
  process.exit(2);
}
const origin = new URL(signIn).origin;
const report = { browser: "", pages: [], keyboard: null, crossOrigin: [], logs: null, errors: [] };
const t0 = Date.now();
const log = (...a) => console.error(`browser ${((Date.now() - t0) / 1000).toFixed(1)}s:`, ...a);

// pageType is what a page is, from its path: the first segment, "*" for the
// name after it, and the rest ("/apps/a.example.org/logs" → "apps/*/logs");
// the same rule as the page weight test's.
function pageType(path) {
  const segs = path.replace(/^\/+|\/+$/g, "").split("/");
  if (segs[0] === "") return "/";
  let t = segs[0];
  if (segs.length > 1) t += "/*";
  if (segs.length > 2) t += "/" + segs.slice(2).join("/");
  return t;
}

// crawlable: a page for a person on this dashboard (no asset, machine format
// or event stream).
function crawlable(href) {
  let u;
  try {
    u = new URL(href, origin);
  } catch {
    return false;
  }
  return u.origin === origin && u.search === "" && !u.pathname.startsWith("/assets/") &&
    !u.pathname.endsWith("/events") && u.pathname !== "/login";
}

// watch collects what a page must not produce: CSP violations (the event and
// the console's report), console errors, uncaught exceptions.
function watch(page) {
  const w = { console: [], pageErrors: [] };
  page.on("console", (m) => {
    if (m.type() === "error" || /Content Security Policy/i.test(m.text())) w.console.push(m.text());
  });
  page.on("pageerror", (e) => w.pageErrors.push(String(e)));
  return w;
}

async function newContext(browser, state, { lang = "en", width = 1280, scheme = "light" } = {}) {
  const ctx = await browser.newContext({
    storageState: state,
    locale: lang === "de" ? "de-DE" : "en-GB", // Accept-Language: the dashboard picks its catalogue from it
    viewport: { width, height: 800 },
    colorScheme: scheme,
  });
  await ctx.addInitScript(() => {
    window.__csp = [];
    document.addEventListener("securitypolicyviolation", (e) =>
      window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`));
  });
  return ctx;
}

// check runs axe and the layout checks on the page as it is now.
async function check(page, w, meta) {
  const axe = await new AxeBuilder({ page }).withTags(WCAG).analyze();
  const layout = await page.evaluate(() => ({
    lang: document.documentElement.lang,
    scrollWidth: Math.max(document.documentElement.scrollWidth, document.body ? document.body.scrollWidth : 0),
    viewport: window.innerWidth,
    csp: window.__csp || [],
  }));
  const entry = {
    ...meta,
    url: page.url().replace(origin, ""),
    docLang: layout.lang, // <html lang>: the catalogue the dashboard picked
    scrollWidth: layout.scrollWidth,
    viewport: layout.viewport,
    violations: axe.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      targets: v.nodes.slice(0, 5).map((n) => `${n.target.join(" ")}: ${n.failureSummary.split("\n").slice(1).join(" ").trim()}`),
    })),
    csp: layout.csp,
    console: [...w.console],
    pageErrors: [...w.pageErrors],
  };
  report.pages.push(entry);
  log(`${meta.type} ${meta.lang} ${meta.width}px ${meta.scheme || ""}: ${entry.violations.length} axe violations`);
  return entry;
}

async function visit(ctx, path, meta) {
  const page = await ctx.newPage();
  const w = watch(page);
  const resp = await page.goto(origin + path, { waitUntil: "load" });
  const entry = await check(page, w, { ...meta, status: resp ? resp.status() : 0 });
  if (meta.tabAll) Object.assign(entry, await tabAll(page));
  await page.close();
  return entry;
}

// tabAll tabs through the page (up to 100 stops, until focus comes back
// round): how many stops, and the elements whose focus does not show.
async function tabAll(page) {
  const invisible = [];
  const seen = new Set();
  for (let i = 0; i < 100; i++) {
    await page.keyboard.press("Tab");
    const f = await page.evaluate(focusInfo);
    const key = `${f.tag}#${f.id} ${JSON.stringify(f.text)}`;
    if (f.tag === "body" || seen.has(key)) break;
    seen.add(key);
    if (!f.visible) invisible.push(key);
  }
  return { tabStops: seen.size, focusInvisible: invisible };
}

// visitPlan checks the plan page, which no link reaches: the app page's
// deploy button submits its form (planning changes nothing).
async function visitPlan(ctx, appPath, meta) {
  const page = await ctx.newPage();
  const w = watch(page);
  await page.goto(origin + appPath, { waitUntil: "load" });
  await page.focus("#deploy");
  const [resp] = await Promise.all([page.waitForNavigation({ timeout: WAIT }), page.keyboard.press("Enter")]);
  await check(page, w, { ...meta, status: resp ? resp.status() : 0 });
  await page.close();
}

// crawl follows the dashboard's own links (nav and content) from the fleet
// page and returns the first URL of every page type.
async function crawl(ctx) {
  const page = await ctx.newPage();
  const found = new Map();
  const queue = ["/"];
  while (queue.length && found.size < MAX_PAGES) {
    const path = queue.shift();
    const type = pageType(path);
    if (found.has(type)) continue;
    const resp = await page.goto(origin + path, { waitUntil: "load" });
    found.set(type, path);
    if (!resp || resp.status() !== 200) continue;
    const links = await page.$$eval("a[href]", (as) => as.map((a) => a.getAttribute("href")));
    for (const href of links) {
      if (!crawlable(href)) continue;
      const p = new URL(href, origin).pathname;
      if (!found.has(pageType(p))) queue.push(p);
    }
  }
  await page.close();
  return found;
}

// focusInfo describes the focused element and whether its focus shows.
const focusInfo = () => {
  const el = document.activeElement;
  if (!el || el === document.body) return { tag: "body", visible: true };
  const cs = getComputedStyle(el);
  const outline = cs.outlineStyle !== "none" && parseFloat(cs.outlineWidth) > 0;
  const shadow = cs.boxShadow && cs.boxShadow !== "none";
  return {
    tag: el.tagName.toLowerCase(), id: el.id, type: el.type || "", name: el.name || "",
    text: (el.textContent || el.value || "").trim().slice(0, 40), visible: Boolean(outline || shadow),
  };
};

// tabTo presses Tab until the element with id is focused, checking that
// every focused element shows its focus.
async function tabTo(page, id, k, typeDomain) {
  for (let i = 0; i < 80; i++) {
    await page.keyboard.press("Tab");
    const f = await page.evaluate(focusInfo);
    k.steps.push(`Tab → ${f.tag}${f.id ? "#" + f.id : ""}${f.text ? " " + JSON.stringify(f.text) : ""}`);
    if (!f.visible) k.focusInvisible.push(`${page.url().replace(origin, "")}: ${f.tag}#${f.id} ${JSON.stringify(f.text)}`);
    if (f.tag === "input" && f.type === "text" && typeDomain) {
      await page.keyboard.type(typeDomain); // a destructive action's confirmation: the app's domain
      k.steps.push(`typed ${typeDomain}`);
    }
    if (f.id === id) return true;
  }
  return false;
}

// formOf (run in the page) is the form of a button as a browser would
// submit it: its action and fields.
const formOf = (button) => {
  const fields = [];
  for (const [k, v] of new FormData(button.form, button)) fields.push([k, String(v)]);
  return { action: button.getAttribute("formaction") || button.form.getAttribute("action"), fields };
};

// keyboard: from the app page, reach deploy and submit it, reach confirm on
// the plan page and submit it, land on the operation page and wait for its
// result in a live region; Tab, Shift+Tab, Enter and Space only.
async function keyboardPass(ctx, domain) {
  const k = { steps: [], focusInvisible: [], reachedDeploy: false, reachedConfirm: false, shiftTabBack: false, operation: "", live: "" };
  report.keyboard = k;
  const page = await ctx.newPage();
  const w = watch(page);
  await page.goto(`${origin}/apps/${domain}`, { waitUntil: "load" });
  k.reachedDeploy = await tabTo(page, "deploy", k);
  if (!k.reachedDeploy) throw new Error("Tab never reached the deploy button on the app page");
  // Shift+Tab goes back: one step forward, one back, on deploy again.
  await page.keyboard.press("Tab");
  await page.keyboard.press("Shift+Tab");
  k.shiftTabBack = (await page.evaluate(() => document.activeElement && document.activeElement.id)) === "deploy";
  k.steps.push(`Tab, Shift+Tab → ${k.shiftTabBack ? "#deploy" : "elsewhere"}`);
  await Promise.all([page.waitForNavigation({ timeout: WAIT }), page.keyboard.press("Enter")]);
  k.steps.push(`Enter → ${page.url().replace(origin, "")}`);
  k.reachedConfirm = await tabTo(page, "confirm", k, domain);
  if (!k.reachedConfirm) throw new Error("Tab never reached the confirm button on the plan page");
  await Promise.all([page.waitForURL(/\/operations\/[^/]+$/, { timeout: WAIT }), page.keyboard.press("Space")]);
  k.operation = page.url().replace(origin, "");
  k.steps.push(`Space → ${k.operation}`);
  // The result, as a screen reader hears it: a live region's text once the
  // operation has ended.
  await page.waitForFunction(() => [...document.querySelectorAll("[aria-live]")]
    .some((e) => e.dataset.outcome || e.querySelector("#outcome")), null, { timeout: WAIT });
  k.live = await page.evaluate(() => [...document.querySelectorAll("[aria-live]")]
    .map((e) => e.textContent.replace(/\s+/g, " ").trim()).filter(Boolean).join(" | "));
  await check(page, w, { type: "operations/* (after deploy)", lang: "en", width: 1280, scheme: "light", status: 200 });
  await page.close();
}

// operations is the dashboard's operations list as JSON (what the journal
// holds), read with the signed-in context.
async function operations(ctx) {
  const r = await ctx.request.get(`${origin}/operations?format=json`);
  return r.text();
}

// crossOrigin: a page of another origin (this script's own server on another
// port of 127.0.0.1: same site, so the SameSite=Strict cookie is sent and only
// the dashboard's cross-origin protection stands in the way) auto-submits a
// form to each state-changing endpoint.
async function crossOrigin(ctx, domain) {
  const targets = [{ name: "logout", action: "/logout", fields: [] }];
  if (domain) {
    // A fresh plan's confirm form, its single-use token unused: without the
    // protection this run would start a deploy.
    const page = await ctx.newPage();
    await page.goto(`${origin}/apps/${domain}`, { waitUntil: "load" });
    const plan = await page.$eval("#deploy", formOf);
    await page.focus("#deploy");
    await Promise.all([page.waitForNavigation({ timeout: WAIT }), page.keyboard.press("Enter")]);
    const run = await page.$eval("#confirm", formOf);
    await page.close();
    targets.unshift({ name: "run", ...run }, { name: "plan", ...plan });
  }
  const evil = http.createServer((req, res) => {
    const t = targets.find((x) => req.url === "/" + x.name);
    if (!t) {
      res.writeHead(404).end();
      return;
    }
    const inputs = t.fields.map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`).join("");
    res.writeHead(200, { "Content-Type": "text/html" });
    res.end(`<!doctype html><title>elsewhere</title><form method="post" action="${esc(new URL(t.action, origin).href)}">${inputs}</form><script>document.forms[0].submit()</script>`);
  });
  await new Promise((ok) => evil.listen(0, "127.0.0.1", ok));
  const evilOrigin = `http://127.0.0.1:${evil.address().port}`;
  try {
    for (const t of targets) {
      const before = await operations(ctx);
      const page = await ctx.newPage();
      const answer = page.waitForResponse((r) => r.url().startsWith(origin) && r.request().method() === "POST", { timeout: WAIT });
      await page.goto(`${evilOrigin}/${t.name}`);
      const resp = await answer;
      await page.waitForLoadState("load");
      await page.close();
      const after = await operations(ctx);
      const home = await ctx.request.get(origin + "/", { maxRedirects: 0 });
      report.crossOrigin.push({
        endpoint: t.action, from: evilOrigin, status: resp.status(),
        operationsUnchanged: before === after, stillSignedIn: home.status() === 200,
      });
      log(`cross-origin POST ${t.action}: ${resp.status()}`);
    }
  } finally {
    evil.close();
  }
}

function esc(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}

// waitFor waits until fn (run in the page) is true; when it never is, the
// error says what was awaited and what the page shows (a notice, the list).
async function waitFor(page, what, fn, arg) {
  try {
    await page.waitForFunction(fn, arg, { timeout: WAIT });
  } catch (e) {
    const state = await page.evaluate(() => {
      const log = document.getElementById("log");
      const notes = [...document.querySelectorAll(".notice, [role=status], [role=alert]")].map((n) => n.textContent.trim()).filter(Boolean);
      return `notices ${JSON.stringify(notes)}; list of ${log ? log.children.length : "no"} lines ending ${JSON.stringify(log && log.lastElementChild ? log.lastElementChild.textContent : "")}`;
    }).catch((err) => String(err));
    throw new Error(`no ${what} within ${WAIT / 1000} s (${state})`);
  }
}

// memory is the tab's JS heap and DOM node count after a forced garbage
// collection.
async function memory(cdp) {
  await cdp.send("HeapProfiler.collectGarbage");
  const { metrics } = await cdp.send("Performance.getMetrics");
  const { nodes } = await cdp.send("Memory.getDOMCounters");
  return { heap: metrics.find((m) => m.name === "JSHeapUsedSize").value, domNodes: nodes };
}

function trigger(n) {
  const [cmd, ...args] = config.trigger;
  const r = spawnSync(cmd, [...args, `: > /tmp/go${n}`], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`trigger ${n}: ${cmd} ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
}

// logs: the log page follows a service that prints 10,000 lines; the DOM
// keeps at most the cap of lines and the heap stays bounded; pause stops
// rendering and counts the lines that arrive meanwhile.
async function logsPass(ctx, domain) {
  const l = { url: `/apps/${domain}/logs` };
  report.logs = l;
  const page = await ctx.newPage();
  const w = watch(page);
  const cdp = await ctx.newCDPSession(page);
  await cdp.send("Performance.enable");
  await page.goto(origin + l.url, { waitUntil: "load" });
  l.cap = await page.$eval("#log", (e) => Number(e.dataset.cap || 0));
  const lines = () => page.$eval("#log", (e) => e.children.length);
  const has = (n) => waitFor(page, `line ${n} in the list`, (n) => document.getElementById("log").textContent.includes(`line ${n} end`), n);
  // The page follows from the moment it connects: a line appended after
  // the ones the server rendered says it is live.
  const rendered = await lines();
  await waitFor(page, "a line from the stream", (n) => document.getElementById("log").children.length > n, rendered);
  trigger(1);
  await has(1000);
  l.after1k = { lines: await lines(), ...(await memory(cdp)) };
  log(`logs after 1,000: ${JSON.stringify(l.after1k)}`);
  trigger(2);
  await has(10000);
  l.after10k = { lines: await lines(), ...(await memory(cdp)) };
  log(`logs after 10,000: ${JSON.stringify(l.after10k)}`);
  // Pause, then 500 more lines: none is rendered, the page counts them.
  await page.focus("#pause");
  await page.keyboard.press("Enter");
  l.pausePressed = await page.$eval("#pause", (b) => b.getAttribute("aria-pressed") || b.textContent.trim());
  const shown = await page.$eval("#log", (e) => e.lastElementChild ? e.lastElementChild.textContent : "");
  trigger(3);
  // The count is outside the list (whose lines may say 500 too).
  const outsideLog = () => document.body.innerText.replace(document.getElementById("log").innerText, "").replace(/\s+/g, " ").trim();
  await waitFor(page, "500 new lines counted", () => /\b500\b/.test(document.body.innerText.replace(document.getElementById("log").innerText, "")));
  l.whilePaused = {
    lastLine: await page.$eval("#log", (e) => e.lastElementChild ? e.lastElementChild.textContent : ""),
    lastBefore: shown,
    counter: await page.evaluate(outsideLog),
  };
  await page.keyboard.press("Enter"); // resume
  await has(10500);
  l.resumed = { lines: await lines() };
  l.csp = await page.evaluate(() => window.__csp);
  l.console = w.console;
  l.pageErrors = w.pageErrors;
  await page.close();
}

async function main() {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  report.browser = browser.version();
  try {
    // Sign in once: the token is one-time; the session cookie is shared by
    // every context below.
    const first = await browser.newContext();
    const p = await first.newPage();
    await p.goto(signIn);
    if (new URL(p.url()).pathname !== "/") throw new Error(`sign-in landed on ${p.url()}`);
    const state = await first.storageState();
    await first.close();

    const en = await newContext(browser, state);
    const types = await crawl(en);
    report.types = Object.fromEntries(types);
    log(`page types: ${[...types.keys()].join(", ")}`);
    // Both languages at both widths, and English in the dark colour scheme
    // (the stylesheet has one: its contrast is checked too).
    const variants = [
      { lang: "en", width: 1280, scheme: "light" }, { lang: "en", width: 320, scheme: "light" },
      { lang: "de", width: 1280, scheme: "light" }, { lang: "de", width: 320, scheme: "light" },
      { lang: "en", width: 1280, scheme: "dark" },
    ];
    for (const v of variants) {
      const ctx = v.lang === "en" && v.width === 1280 && v.scheme === "light" ? en : await newContext(browser, state, v);
      for (const [type, path] of types) await visit(ctx, path, { type, ...v, tabAll: ctx === en });
      if (types.has("apps/*")) await visitPlan(ctx, types.get("apps/*"), { type: "apps/*/deploy/plan", ...v });
      if (ctx !== en) await ctx.close();
    }
    const sections = [
      ["logs", () => logsPass(en, config.app), config.app && config.trigger],
      ["keyboard", () => keyboardPass(en, config.app), config.app],
      ["cross-origin", () => crossOrigin(en, config.app), true],
    ];
    for (const [name, fn, wanted] of sections) {
      if (!wanted) continue;
      try {
        await fn();
      } catch (e) {
        report.errors.push(`${name}: ${e.message.split("\n")[0]}`);
        log(`${name}: ${e.stack}`);
      }
    }
  } finally {
    await browser.close();
  }
}

try {
  await main();
} catch (e) {
  report.errors.push(`run: ${e.message.split("\n")[0]}`);
  log(e.stack);
  process.exitCode = 1;
}
process.stdout.write(JSON.stringify(report, null, 2) + "\n");
