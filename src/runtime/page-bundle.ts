// Bundles page code (the bench page in src/runtime/page, and whatever pages a server built on
// src/runtime/browser-server.ts adds, such as `rebirth serve`'s) with the library modules it runs — the
// ONNX codec, the IR, the shape engine, DeepRebirth's planner and rewriter, the trace parser and the report
// charts — into ES modules for the browser, with esbuild, when a server starts (~1 s; the result is kept
// per process and set of entry points).
//
// A few modules on that path import Node at load time without needing it for what the page does. The
// bundle swaps exactly those for the stand-ins in src/runtime/page/shims and refuses every other Node
// import, so a new one fails `rebirth serve` (and test/browser) instead of breaking the page at run time:
//   src/runtime/session.ts  -> shims/session.ts   (ORT in Node; imported by profile.ts and timing.ts)
//   src/runtime/browser.ts  -> shims/browser.ts   (playwright-core; imported lazily by profile.ts)
//   node:perf_hooks         -> shims/perf-hooks.ts (the browser's own `performance`)
//   node:fs, node:path      -> shims/node-fs.ts   (src/onnx/decode.ts only: external data files)
import { existsSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'esbuild';
import { RebirthError, errorMessage, firstLine } from '../errors.js';

const here = dirname(fileURLToPath(import.meta.url));
/** src/ (or dist/src/ when running the built package). */
const srcRoot = resolve(here, '..');

/** Under tsx the sources are .ts; in the built package they are tsc's .js next to each other. */
function moduleFile(base: string): string {
  for (const ext of ['.ts', '.js']) {
    if (existsSync(base + ext)) return base + ext;
  }
  throw new RebirthError(`page source ${base}.ts is missing from this installation: reinstall rebirth`);
}

/** Library modules replaced in the bundle, by path under src/ without extension. */
const MODULE_SHIMS: Record<string, string> = {
  'runtime/session': 'runtime/page/shims/session',
  'runtime/browser': 'runtime/page/shims/browser',
};

/** Node builtins the bundle replaces, and which importers may use them (undefined: any importer). */
const NODE_SHIMS: Record<string, { shim: string; importers?: readonly string[] }> = {
  'node:perf_hooks': { shim: 'runtime/page/shims/perf-hooks' },
  'node:fs': { shim: 'runtime/page/shims/node-fs', importers: ['onnx/decode'] },
  'node:path': { shim: 'runtime/page/shims/node-fs', importers: ['onnx/decode'] },
};

function libraryId(file: string): string | undefined {
  const rel = relative(srcRoot, file);
  if (rel.startsWith('..')) return undefined;
  return rel.split(sep).join('/').replace(/\.(ts|js)$/, '');
}

function shimPlugin(): Plugin {
  return {
    name: 'rebirth-page-shims',
    setup(build) {
      build.onResolve({ filter: /^node:|^(fs|path|os|module|url|perf_hooks|child_process|worker_threads|zlib)$/ }, (args) => {
        const name = args.path.startsWith('node:') ? args.path : `node:${args.path}`;
        const importer = libraryId(args.importer) ?? args.importer;
        const rule = NODE_SHIMS[name];
        if (rule !== undefined && (rule.importers === undefined || rule.importers.includes(importer))) {
          return { path: moduleFile(join(srcRoot, rule.shim)) };
        }
        return { errors: [{ text: `${importer} imports ${args.path}, which the page cannot load: keep Node-only code out of the page's import graph or add a stand-in in src/runtime/page-bundle.ts` }] };
      });
      build.onResolve({ filter: /^\.\.?\// }, (args) => {
        const id = libraryId(resolve(args.resolveDir, args.path));
        const shim = id === undefined ? undefined : MODULE_SHIMS[id];
        return shim === undefined ? undefined : { path: moduleFile(join(srcRoot, shim)) };
      });
    },
  };
}

/** The page's modules by URL name ('bench.js', one per entry point, and 'chunk-*.js'). */
export interface PageBundle {
  files: ReadonlyMap<string, Uint8Array>;
  /** Library modules in the bundle, by path under src/ (for tests and docs/browser.md). */
  modules: readonly string[];
}

/**
 * Page entry points: URL name (served as `<name>.js`) -> module path under src/ without extension, e.g.
 * `{ bench: 'runtime/page/bench' }`. The caller names its own pages, so the bundler (and src/runtime)
 * depends on none of them.
 */
export type PageEntries = Readonly<Record<string, string>>;

const cached = new Map<string, Promise<PageBundle>>();

/**
 * Builds the pages of `entries` in one esbuild run (so they share chunks), once per process and set of
 * entry points.
 */
export function pageBundle(entries: PageEntries): Promise<PageBundle> {
  const key = JSON.stringify(Object.entries(entries).sort(([a], [b]) => a.localeCompare(b)));
  let bundle = cached.get(key);
  if (bundle === undefined) {
    bundle = buildPageBundle(entries).catch((e: unknown) => {
      cached.delete(key);
      throw e;
    });
    cached.set(key, bundle);
  }
  return bundle;
}

async function buildPageBundle(entries: PageEntries): Promise<PageBundle> {
  // esbuild is loaded only by `rebirth serve` and the browser backends.
  const { build } = await import('esbuild');
  const entryPoints = Object.fromEntries(Object.entries(entries).map(([name, id]) => [name, moduleFile(join(srcRoot, id))]));
  let result;
  try {
    result = await build({
      entryPoints,
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'browser',
      target: 'chrome120',
      outdir: '/page',
      write: false,
      metafile: true,
      logLevel: 'silent',
      legalComments: 'none',
      plugins: [shimPlugin()],
    });
  } catch (e) {
    const failure = e as { errors?: Array<{ text: string }> };
    const text = failure.errors?.[0]?.text ?? errorMessage(e);
    throw new RebirthError(`cannot build the page bundle: ${firstLine(text)}`, { cause: e });
  }
  const files = new Map<string, Uint8Array>();
  for (const f of result.outputFiles) files.set(f.path.slice(f.path.lastIndexOf('/') + 1), f.contents);
  const modules = Object.keys(result.metafile.inputs)
    .map((p) => libraryId(resolve(p)))
    .filter((id): id is string => id !== undefined)
    .sort();
  return { files, modules };
}
