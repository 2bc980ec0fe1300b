// End-to-end test of the monitoring dashboard: the real `tether demo` (chaos upstream,
// services, monitor, monitoring server serving the built page) and headless Debian Chromium
// driven by playwright-core (no browser download).
//
//   node dashboard.e2e.mjs --tether target/debug/tether --dist web-dashboard/dist \
//        [--screenshot path.png] [--warmup-seconds 0] [--deadline-seconds 240]
//
// `--warmup-seconds` lets traffic run that long before the failure (a screenshot with an
// hour-like trend for the docs); the test itself needs none.
//
// Steps, each bounded in time:
//   1. every panel shows live data;
//   2. the upstream of `search` fails: its breaker shows OPEN (red) and an alert appears;
//      the upstream recovers: the breaker closes again and the alert goes;
//   3. a service named `<img src=x onerror=alert(1)>` is shown as those characters, no <img>
//      exists and no dialog opened;
//   4. the monitoring server stops: the panels keep their data under a "Stale since" banner.
// The demo is stopped by its PID, the browser closed and its profile removed, whatever happens.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const HOSTILE = '<img src=x onerror=alert(1)>';
const FAILING = 'search';

function args() {
  const out = { deadline: 240, warmup: 0, chromium: process.env.CHROMIUM || '/usr/bin/chromium' };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    if (k === '--tether') out.tether = v;
    else if (k === '--dist') out.dist = v;
    else if (k === '--screenshot') out.screenshot = v;
    else if (k === '--deadline-seconds') out.deadline = Number(v);
    else if (k === '--warmup-seconds') out.warmup = Number(v);
    else throw new Error(`unknown argument ${k}`);
  }
  if (!out.tether || !out.dist) throw new Error('--tether and --dist are required');
  return out;
}

function log(msg) {
  process.stdout.write(`[e2e ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

/// Starts `tether demo` and resolves with its PID and URLs once it has printed them.
function startDemo(opts, cleanup) {
  const child = spawn(opts.tether, [
    'demo', '--port', '0', '--chaos-port', '0', '--plain',
    // The fault script's first fault comes a sixth of the cycle in: 10 min, after this test.
    '--cycle', '3600s', '--duration', `${opts.deadline + 30}s`,
    '--dashboard-dir', opts.dist,
    '--add-service', HOSTILE,
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  cleanup.push(() => stopProcess(child));
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tether demo printed no URLs in 60 s:\n${out}`)), 60_000);
    const seen = () => {
      const server = out.match(/Monitoring server on (http:\/\/127\.0\.0\.1:\d+)/);
      const chaos = out.match(/a chaos upstream at (http:\/\/127\.0\.0\.1:\d+)/);
      if (server && chaos) {
        clearTimeout(timer);
        resolve({ child, root: server[1], chaos: chaos[1], output: () => out });
      }
    };
    child.stdout.on('data', (d) => { out += d; seen(); });
    child.stderr.on('data', (d) => { out += d; });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`tether demo exited early (${code ?? signal}):\n${out}`));
    });
  });
}

/// SIGTERM to one PID, SIGKILL after 5 s; resolves when it exited.
function stopProcess(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => { try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ } }, 5000);
    child.once('exit', () => { clearTimeout(kill); resolve(); });
    try { process.kill(child.pid, 'SIGTERM'); } catch { clearTimeout(kill); resolve(); }
  });
}

async function chaos(demo, pathAndQuery) {
  const r = await fetch(`${demo.chaos}${pathAndQuery}`, { signal: AbortSignal.timeout(5000) });
  if (!r.ok) throw new Error(`chaos ${pathAndQuery}: HTTP ${r.status}`);
}

/// The text of each list item / table row of a panel whose first name cell is `name`.
function rowOf(page, panel, name) {
  return page.locator(`#${panel} .body`).locator('li, tr').filter({
    has: page.locator('.name, th[scope=row]').getByText(name, { exact: true }),
  });
}

async function main() {
  const opts = args();
  const cleanup = [];
  const dialogs = [];
  const errors = [];
  const abort = (why) => {
    log(`FAIL: ${why}`);
    Promise.allSettled(cleanup.reverse().map((f) => f())).finally(() => process.exit(1));
  };
  const deadline = setTimeout(() => abort(`over the ${opts.deadline} s deadline`), opts.deadline * 1000);
  // `timeout` (or Ctrl-C) ends this script: stop the demo and the browser first.
  process.once('SIGTERM', () => abort('terminated'));
  process.once('SIGINT', () => abort('interrupted'));
  try {
    log(`starting ${opts.tether} demo`);
    const demo = await startDemo(opts, cleanup);
    log(`monitoring server ${demo.root}, chaos upstream ${demo.chaos}`);

    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'tether-e2e-'));
    cleanup.push(() => fs.rmSync(profile, { recursive: true, force: true }));
    const browser = await chromium.launchPersistentContext(profile, {
      executablePath: opts.chromium,
      headless: true,
      viewport: { width: 1280, height: 900 },
      deviceScaleFactor: 1,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      timeout: 30_000,
    });
    cleanup.push(() => browser.close());
    const page = browser.pages()[0] ?? await browser.newPage();
    page.setDefaultTimeout(30_000);
    page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });

    // 1. Live data in every panel (the trend needs two collections with traffic between).
    await page.goto(`${demo.root}/?interval=1`);
    const panels = ['system', 'health', 'performance', 'alerts', 'breakers', 'cache', 'trends'];
    await page.waitForFunction((ids) => ids.every((id) => {
      const s = document.getElementById(id);
      return s && s.dataset.updated && s.dataset.stale === 'false'
        && s.querySelector('.body').children.length > 0
        && !s.querySelector('.body > .empty');
    }), panels, { timeout: 60_000 });
    await page.locator('#trends svg.chart path').first().waitFor();
    for (const id of panels) {
      const text = await page.locator(`#${id} .body`).innerText();
      if (!text.trim()) throw new Error(`panel ${id} is empty`);
    }
    if (!await page.locator('#banner').isHidden()) throw new Error('a banner while the server answers');
    log('every panel shows live data');
    if (opts.warmup > 0) {
      log(`warming up for ${opts.warmup} s`);
      await page.waitForTimeout(opts.warmup * 1000);
    }

    // 2. The upstream fails: the breaker opens (red) and an alert appears; then it recovers.
    await chaos(demo, `/admin/down/${FAILING}?on=1&status=503`);
    const breaker = rowOf(page, 'breakers', FAILING);
    await breaker.and(page.locator('[data-state=OPEN]')).waitFor({ timeout: 30_000 });
    const stateClass = await breaker.locator('.state').getAttribute('class');
    if (!stateClass.split(' ').includes('bad')) throw new Error(`OPEN is not red: ${stateClass}`);
    const alert = page.locator('#alerts li.alert').filter({ hasText: `Service ${FAILING} circuit breaker is open` });
    await alert.first().waitFor({ timeout: 30_000 });
    log(`${FAILING}: breaker OPEN (red) and an alert shown`);
    if (opts.screenshot) {
      fs.mkdirSync(path.dirname(opts.screenshot), { recursive: true });
      await page.screenshot({ path: opts.screenshot, fullPage: true });
      log(`screenshot ${opts.screenshot}`);
    }
    await chaos(demo, `/admin/down/${FAILING}?on=0`);
    await breaker.and(page.locator('[data-state=CLOSED]')).waitFor({ timeout: 60_000 });
    const closedClass = await breaker.locator('.state').getAttribute('class');
    if (!closedClass.split(' ').includes('good')) throw new Error(`CLOSED is not green: ${closedClass}`);
    await alert.first().waitFor({ state: 'detached', timeout: 60_000 });
    log(`${FAILING}: recovered, breaker CLOSED (green), alert gone`);

    // 3. The hostile name is text, everywhere it is listed.
    for (const panel of ['health', 'performance', 'breakers', 'cache']) {
      const row = rowOf(page, panel, HOSTILE);
      if (await row.count() !== 1) throw new Error(`${panel}: no row named ${HOSTILE}`);
    }
    const legend = page.locator('#trends .legend .name').getByText(HOSTILE, { exact: true });
    if (await legend.count() !== 1) throw new Error('trend legend: hostile name missing');
    const images = await page.evaluate(() => document.querySelectorAll('img').length);
    if (images !== 0) throw new Error(`${images} <img> element(s) in the page`);
    await page.waitForTimeout(1500);
    if (dialogs.length) throw new Error(`dialogs opened: ${JSON.stringify(dialogs)}`);
    log('the hostile service name is literal text; no <img>, no dialog');

    // 4. The monitoring server stops: the last data stays, under a stale banner.
    const before = await page.locator('#breakers .body').innerText();
    await stopProcess(demo.child);
    log('tether demo stopped');
    const banner = page.locator('#banner');
    await banner.getByText(/Stale since \d\d:\d\d:\d\d/).waitFor({ timeout: 30_000 });
    const bannerText = await banner.innerText();
    const after = await page.locator('#breakers .body').innerText();
    if (after !== before) throw new Error(`the panels changed when the server stopped:\n${before}\n---\n${after}`);
    const stale = await page.evaluate(() => [...document.querySelectorAll('section.panel')]
      .every((s) => s.dataset.stale === 'true'));
    if (!stale) throw new Error('panels are not marked stale');
    log(`stale banner: ${bannerText.replace(/\s+/g, " ").slice(0, 400)}`);

    if (dialogs.length) throw new Error(`dialogs opened: ${JSON.stringify(dialogs)}`);
    const unexpected = errors.filter((e) => !/Failed to load resource|ERR_CONNECTION_REFUSED/.test(e));
    if (unexpected.length) throw new Error(`page errors: ${unexpected.join('\n')}`);
    log('PASS');
  } finally {
    clearTimeout(deadline);
    for (const f of cleanup.reverse()) {
      try { await f(); } catch (e) { log(`cleanup: ${e.message}`); }
    }
  }
}

main().catch((e) => {
  log(`FAIL: ${e.stack || e}`);
  process.exit(1);
});
