// The server behind `rebirth serve`: the runtime's local server (src/runtime/browser-server.ts: 127.0.0.1,
// cross-origin isolated, onnxruntime-web from node_modules, the bench page the browser backends drive)
// with the page for people added on top: its document, its stylesheet and its code (src/serve/page/app.ts),
// bundled together with the bench page.
import { serverBundle, startBrowserServer, type PageSet, type RunningServer } from '../runtime/browser-server.js';
import type { PageBundle } from '../runtime/page-bundle.js';
import { APP_CSS, APP_HTML } from './html.js';

export type { RunningServer } from '../runtime/browser-server.js';

export interface ServeOptions {
  /** TCP port; 0 (default) picks a free one. */
  port?: number;
}

const APP_PAGES: PageSet = {
  documents: { '/': APP_HTML, '/app/style.css': APP_CSS },
  entries: { app: 'serve/page/app' },
};

/** The page bundle `rebirth serve` serves: app.js, bench.js and their shared chunks. */
export function appBundle(): Promise<PageBundle> {
  return serverBundle(APP_PAGES);
}

export function startServer(options: ServeOptions = {}): Promise<RunningServer> {
  return startBrowserServer({ ...options, pages: APP_PAGES });
}
