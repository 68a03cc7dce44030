// Shared by the browser tests: Debian's Chromium driven by playwright-core, and process bookkeeping to
// prove Chromium is gone afterwards.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { DEFAULT_CHROMIUM } from '../../src/runtime/browser.js';
import { root } from '../cli/run.js';

export const CHROMIUM = process.env.REBIRTH_CHROMIUM || DEFAULT_CHROMIUM;

/** Screenshots and downloads the tests keep, for people to look at (tmp/ is gitignored). */
export const ARTEFACTS = join(root, 'tmp', 'browser');

/** These tests fail, never skip, without a browser: CI installs it (bash .ci/run). */
export function requireChromium(): void {
  assert.ok(existsSync(CHROMIUM), `Chromium is not installed at ${CHROMIUM}: install it with 'apt-get install chromium' (bash .ci/run does) or set REBIRTH_CHROMIUM; the browser tests need it`);
}

export function artefactPath(name: string): string {
  mkdirSync(ARTEFACTS, { recursive: true });
  return join(ARTEFACTS, name);
}

export interface TestBrowser {
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

/** A fresh headless Chromium (own temp profile) with the flags rebirth itself uses. */
export async function launchChromium(): Promise<TestBrowser> {
  requireChromium();
  const dir = mkdtempSync(join(tmpdir(), 'rebirth-test-chromium-'));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    viewport: { width: 1200, height: 900 },
    acceptDownloads: true,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    close: async () => {
      await context.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Ids of live processes whose command line contains `marker` (Linux /proc). */
export function processesMentioning(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(marker)) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

/** Waits until `check` holds, polling; fails with `what` after `ms`. */
export async function waitFor(check: () => boolean, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
