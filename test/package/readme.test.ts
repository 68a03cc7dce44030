// The README's library example and the package's exports, checked the way a user meets them: the
// built package (dist/, what `npm pack` ships) imported by its name, 'rebirth', not the sources.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import * as path from 'node:path';
import { before, test } from 'node:test';

const root = path.join(import.meta.dirname, '..', '..');
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');

/** The first ```ts block after the README's "## Library" heading. */
function readmeExample(): string {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Library'));
  const m = /```ts\n([\s\S]*?)```/.exec(section);
  assert.ok(m?.[1], 'README has a ```ts block under ## Library');
  return m[1];
}

before(() => {
  // Build dist/ from the current sources, as `npm ci` (prepare) and `npm run build` do.
  execFileSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], { cwd: root, stdio: 'pipe' });
});

test('the README library example type-checks and runs against the built package', () => {
  // Inside the repository, so that 'rebirth' resolves to this package through its "exports" map.
  const dir = path.join(root, 'tmp', `readme-example-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  try {
    writeFileSync(path.join(dir, 'example.ts'), readmeExample());
    symlinkSync(path.join(root, 'models'), path.join(dir, 'models'));
    writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
      extends: '../../tsconfig.json', compilerOptions: { noEmit: true, rootDir: '.' }, include: ['example.ts'],
    }));
    const check = spawnSync(process.execPath, [tsc, '-p', dir], { cwd: dir, encoding: 'utf8' });
    assert.equal(check.status, 0, `tsc on the README example:\n${check.stdout}${check.stderr}`);

    const run = spawnSync(process.execPath, ['--import', 'tsx', 'example.ts'], { cwd: dir, encoding: 'utf8', timeout: 300_000 });
    assert.equal(run.status, 0, `running the README example:\n${run.stdout}${run.stderr}`);
    assert.match(run.stdout, /^conv1: /m, 'prints the plan');
    const merged = /merged (\d+) blocks; top-1 ([\d.]+) -> ([\d.]+)/.exec(run.stdout);
    assert.ok(merged, run.stdout);
    assert.ok(Number(merged[1]) >= 2, 'googlenet-mini has mergeable blocks');
    assert.ok(existsSync(path.join(dir, 'googlenet-mini.merged.onnx')), 'the merged model is saved');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the built package exports what src/index.ts exports, with type declarations', async () => {
  const built = await import('rebirth') as Record<string, unknown>;
  const source = await import('../../src/index.js') as Record<string, unknown>;
  assert.deepEqual(Object.keys(built).sort(), Object.keys(source).sort());
  for (const [name, value] of Object.entries(source)) assert.equal(typeof built[name], typeof value, name);
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { exports: { '.': { types: string; import: string } } };
  assert.ok(existsSync(path.join(root, pkg.exports['.'].types)), 'declarations exist');
  assert.ok(existsSync(path.join(root, pkg.exports['.'].import)), 'entry point exists');
});

test('npm pack ships the built library, the CLI and the teacher model, not the sources or tests', () => {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' });
  const [info] = JSON.parse(out) as Array<{ files: Array<{ path: string }> }>;
  const files = new Set((info?.files ?? []).map((f) => f.path));
  for (const f of ['bin/rebirth.js', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli/bin.js', 'models/googlenet-mini.onnx', 'README.md']) {
    assert.ok(files.has(f), `package contains ${f}`);
  }
  assert.ok(![...files].some((f) => f.startsWith('test/') || f.startsWith('dist/test/') || f.endsWith('.ts') && !f.endsWith('.d.ts')), 'no sources or tests in the package');
});
