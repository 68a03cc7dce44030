// The local server the browser backends drive (src/runtime/browser.ts) and `rebirth serve` builds on
// (src/serve/server.ts): 127.0.0.1 only, cross-origin isolated (COOP/COEP, so SharedArrayBuffer and with
// it onnxruntime-web's WASM threads work), serving the bench page and its bundle (src/runtime/page,
// src/runtime/page-bundle.ts), onnxruntime-web's own files straight from node_modules (no CDN), model
// bytes registered under unguessable paths, and whatever documents and page entry points the caller adds.
// It lives in src/runtime so that the runtime does not depend on the `serve` command.
import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync, readdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { RebirthError, errorMessage } from '../errors.js';
import { BENCH_PATH, ORT_PREFIX } from './browser-protocol.js';
import { pageBundle, type PageBundle, type PageEntries } from './page-bundle.js';

/** The only interface the server listens on: the page serves code that runs models, not a public site. */
export const HOST = '127.0.0.1';

/** Where page bundles are served: `<prefix><name>.js` per entry point, and their shared chunks. */
export const BUNDLE_PREFIX = '/app/';

/** The page Node drives for the browser backends: no UI, just the runner (src/runtime/page/bench.ts). */
export const BENCH_HTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>rebirth browser backend</title>
<link rel="icon" href="data:,">
<script type="module" src="${BUNDLE_PREFIX}bench.js"></script>
</head>
<body><p>rebirth: this page is driven by the CLI.</p></body>
</html>
`;

/** The bench page's entry point (module path under src/). */
const BENCH_ENTRY: PageEntries = { bench: 'runtime/page/bench' };

/** What a server built on this one serves besides the bench page. */
export interface PageSet {
  /** Documents by path (e.g. '/'); the content type follows the path's extension, HTML without one. */
  documents?: Readonly<Record<string, string>>;
  /** Page entry points bundled together with the bench page (shared chunks), served under BUNDLE_PREFIX. */
  entries?: PageEntries;
}

export interface BrowserServerOptions {
  /** TCP port; 0 (default) picks a free one. */
  port?: number;
  pages?: PageSet;
}

export interface RunningServer {
  /** e.g. http://127.0.0.1:8080 (no trailing slash). */
  readonly url: string;
  readonly port: number;
  /** Serves `bytes` until removed; returns the path to fetch them from. */
  addModel(bytes: Uint8Array): string;
  removeModel(path: string): void;
  /** Stops listening and drops open connections. Idempotent. */
  close(): Promise<void>;
}

/** The bundle a server with `pages` serves: the bench page and the pages' own entry points. */
export function serverBundle(pages: PageSet = {}): Promise<PageBundle> {
  return pageBundle({ ...pages.entries, ...BENCH_ENTRY });
}

/**
 * Every response: cross-origin isolation (COOP + COEP; CORP so our own files pass COEP), and a CSP that
 * lets the page load nothing from anywhere else, which is what "self-contained, no CDN" means in
 * practice. 'wasm-unsafe-eval' is what WebAssembly.instantiate needs; blob: workers are how
 * onnxruntime-web may start its thread pool.
 */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Content-Security-Policy': [
    "default-src 'self'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "worker-src 'self' blob:",
    "connect-src 'self'",
    "img-src 'self' data: blob:",
    "style-src 'self'",
    "font-src 'none'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; '),
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

/** onnxruntime-web's dist folder, from wherever npm installed it. */
export function ortDistDir(): string {
  // The package's main entry (CommonJS condition) is dist/ort.node.min.js.
  const main = createRequire(import.meta.url).resolve('onnxruntime-web');
  return dirname(main);
}

/** The runtime files a page may load: ORT's ES module builds and their WebAssembly binaries. */
function ortFiles(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const name of readdirSync(dir)) {
    if (/^ort[\w.-]*\.(mjs|wasm)$/.test(name)) files.set(name, join(dir, name));
  }
  return files;
}

function contentType(name: string): string {
  if (name.endsWith('.wasm')) return 'application/wasm';
  if (name.endsWith('.mjs') || name.endsWith('.js')) return 'text/javascript; charset=utf-8';
  if (name.endsWith('.css')) return 'text/css; charset=utf-8';
  if (name.endsWith('.onnx')) return 'application/octet-stream';
  return 'text/html; charset=utf-8';
}

function send(res: ServerResponse, status: number, type: string, body: string | Uint8Array): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

export async function startBrowserServer(options: BrowserServerOptions = {}): Promise<RunningServer> {
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RebirthError(`option port must be a whole number from 0 to 65535, got ${port}`);
  }
  const ortDir = ortDistDir();
  const ort = ortFiles(ortDir);
  if (!existsSync(join(ortDir, 'ort.wasm.min.mjs'))) {
    throw new RebirthError(`onnxruntime-web in ${ortDir} has no ort.wasm.min.mjs: reinstall dependencies with npm ci`);
  }
  const documents = new Map<string, string>([...Object.entries(options.pages?.documents ?? {}), [BENCH_PATH, BENCH_HTML]]);
  const bundle = await serverBundle(options.pages);
  const models = new Map<string, Uint8Array>();
  let actualPort = port;

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    // DNS rebinding guard: a page on another site that resolves its name to 127.0.0.1 sends its own Host.
    const host = req.headers.host ?? '';
    if (host !== `${HOST}:${actualPort}` && host !== `localhost:${actualPort}`) {
      send(res, 403, 'text/plain; charset=utf-8', 'forbidden host\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'text/plain; charset=utf-8', 'only GET\n');
      return;
    }
    const path = new URL(req.url ?? '/', `http://${HOST}`).pathname;
    const doc = documents.get(path);
    if (doc !== undefined) return send(res, 200, contentType(path), doc);
    if (path.startsWith(BUNDLE_PREFIX)) {
      const file = bundle.files.get(path.slice(BUNDLE_PREFIX.length));
      if (file !== undefined) return send(res, 200, contentType('.js'), file);
    }
    if (path.startsWith(ORT_PREFIX)) {
      const name = path.slice(ORT_PREFIX.length);
      const file = ort.get(name);
      if (file !== undefined) {
        res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': contentType(name) });
        createReadStream(file).on('error', () => res.destroy()).pipe(res);
        return;
      }
    }
    if (path.startsWith('/models/')) {
      const bytes = models.get(path);
      if (bytes !== undefined) return send(res, 200, contentType('.onnx'), bytes);
    }
    send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
  };

  const server: Server = createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE') reject(new RebirthError(`port ${port} on ${HOST} is in use: choose another with --port (or 0 for any free port)`));
      else if (e.code === 'EACCES') reject(new RebirthError(`no permission to listen on port ${port}: choose a port above 1023 with --port`));
      else reject(new RebirthError(`cannot listen on ${HOST}:${port}: ${errorMessage(e)}`));
    });
    server.listen(port, HOST, () => resolve());
  });
  actualPort = (server.address() as AddressInfo).port;
  let closed: Promise<void> | undefined;

  return {
    url: `http://${HOST}:${actualPort}`,
    port: actualPort,
    addModel(bytes: Uint8Array): string {
      const path = `/models/${randomBytes(16).toString('hex')}.onnx`;
      models.set(path, bytes);
      return path;
    },
    removeModel(path: string): void {
      models.delete(path);
    },
    close(): Promise<void> {
      closed ??= new Promise<void>((resolve) => {
        models.clear();
        server.close(() => resolve());
        // Keep-alive connections from the browser would hold close() open.
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
