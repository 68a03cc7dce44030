// `rebirth serve`: what the server sends (isolation and CSP headers, ORT's files, nothing else), to whom
// (127.0.0.1, its own Host only), and that Ctrl-C stops it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startServer } from '../../src/serve/server.js';
import { root } from '../cli/run.js';

/** A raw GET, so the test controls the Host header (fetch does not let it be set). */
function get(url: string, host?: string, method = 'GET'): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: host !== undefined ? { host } : {} }, (res) => {
      let body = '';
      res.setEncoding('latin1').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

void describe('rebirth serve', () => {
  void it('serves the page, its bundle and onnxruntime-web cross-origin isolated, and nothing else', async () => {
    const server = await startServer();
    try {
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const page = await get(`${server.url}/`);
      assert.equal(page.status, 200);
      assert.equal(page.headers['cross-origin-opener-policy'], 'same-origin');
      assert.equal(page.headers['cross-origin-embedder-policy'], 'require-corp');
      assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
      assert.match(page.body, /data-testid="model-input"/);
      // Self-contained: the page names no absolute URL, and its code imports none (comments in bundled
      // dependencies may mention URLs; page.test.ts watches the requests Chromium actually makes).
      assert.deepEqual(page.body.match(/https?:\/\//g) ?? [], [], 'no absolute URL in the page');
      const app = await get(`${server.url}/app/app.js`);
      assert.equal(app.status, 200);
      assert.match(String(app.headers['content-type']), /javascript/);
      assert.doesNotMatch(app.body, /\b(import\s*\(?|from)\s*["'`](https?:)?\/\//, 'no import from another origin');
      const ort = await get(`${server.url}/ort/ort-wasm-simd-threaded.wasm`);
      assert.equal(ort.status, 200);
      assert.equal(ort.headers['content-type'], 'application/wasm');
      assert.equal(ort.headers['cross-origin-resource-policy'], 'same-origin');
      for (const path of ['/ort/package.json', '/ort/ort.wasm.min.mjs.map', '/ort/%2e%2e/package.json', '/models/0.onnx', '/src/index.ts']) {
        assert.equal((await get(`${server.url}${path}`)).status, 404, path);
      }
      assert.equal((await get(`${server.url}/`, 'evil.example:80')).status, 403, 'DNS rebinding: foreign Host refused');
      assert.equal((await get(`${server.url}/`, undefined, 'POST')).status, 405);

      const path = server.addModel(new Uint8Array([1, 2, 3]));
      assert.match(path, /^\/models\/[0-9a-f]{32}\.onnx$/);
      assert.equal((await get(`${server.url}${path}`)).body, '\x01\x02\x03');
      server.removeModel(path);
      assert.equal((await get(`${server.url}${path}`)).status, 404);
    } finally {
      await server.close();
    }
  });

  void it('rebirth serve --port 0 prints its address and stops on Ctrl-C', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src', 'cli', 'bin.ts'), 'serve', '--port', '0'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
    let stdout = '';
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
        const m = /open (http:\/\/127\.0\.0\.1:\d+)\//.exec(stdout);
        if (m?.[1] !== undefined) resolve(m[1]);
      });
      child.on('close', () => reject(new Error(`rebirth serve exited early: ${stderr}`)));
    });
    assert.equal((await get(`${url}/`)).status, 200);
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    child.kill('SIGINT');
    assert.equal(await exited, 0, stderr);
    assert.match(stdout, /stopped/);
    await assert.rejects(get(`${url}/`), /ECONNREFUSED/);
  });

  void it('a port in use is a one-line error naming --port', async () => {
    const first = await startServer();
    try {
      await assert.rejects(startServer({ port: first.port }), /^RebirthError: port \d+ on 127\.0\.0\.1 is in use: choose another with --port/);
    } finally {
      await first.close();
    }
  });
});
