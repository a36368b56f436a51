import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@agora/state';
import { cliEnv, type CliEnv } from '../../../test/support/cli.js';

/**
 * Issue 16, part 4: `@agora/sdk` installs from its packed tarballs into a project outside the
 * repo and works there with plain `node`: it submits and watches a plan over Redis and over the
 * dashboard's HTTP API, against a scheduler, a runner and a dashboard started by the repo's CLI;
 * and a TypeScript consumer type-checks against the packed types.
 */

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
/** The SDK and what it needs at run time: the packages a service installs. */
const PACKAGES = ['libs/core', 'libs/locks', 'libs/audit', 'libs/state', 'libs/sdk'];
const KEY = 'sdk-install-key-0123456789abcdef';

let work: string;
let consumer: string;
let e: CliEnv;
let packed: Array<{ name: string; filename: string; files: Array<{ path: string }> }>;

/** npm, with none of the npm_* settings of an `npm run` or `npm test` that started vitest (a workspace setting would aim it at the repo). */
function npm(args: readonly string[], cwd: string): string {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('npm_') || k === 'npm_config_cache' || k === 'npm_config_registry'));
  const r = spawnSync('npm', [...args], { cwd, env, encoding: 'utf8', timeout: 300_000, maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`npm ${args.join(' ')} in ${cwd} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

function node(args: readonly string[], env: NodeJS.ProcessEnv = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [...args], { cwd: consumer, env: { PATH: process.env['PATH'], HOME: process.env['HOME'], ...env }, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  for (const p of PACKAGES) {
    if (!existsSync(path.join(REPO, p, 'dist', 'index.js'))) throw new Error(`${p}/dist is missing: build first (npx tsc -b)`);
  }
  work = mkdtempSync(path.join(os.tmpdir(), 'agora-sdk-install-'));
  const tarballs = path.join(work, 'tarballs');
  consumer = path.join(work, 'service');
  mkdirSync(tarballs);
  mkdirSync(consumer);
  packed = JSON.parse(npm(['pack', '--json', '--pack-destination', tarballs, ...PACKAGES.flatMap((p) => ['-w', p])], REPO)) as typeof packed;
  writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({ name: 'a-service', version: '1.0.0', private: true, type: 'module' }));
  npm(['install', '--prefer-offline', '--no-audit', '--no-fund', ...packed.map((p) => path.join(tarballs, p.filename)), '@types/node@20'], consumer);
}, 600_000);

afterAll(async () => {
  await e?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the packed SDK', () => {
  it('packs dist, types, README and the Lua scripts, and no tests', () => {
    const files = Object.fromEntries(packed.map((p) => [p.name, p.files.map((f) => f.path)]));
    expect(Object.keys(files).sort()).toEqual(['@agora/audit', '@agora/core', '@agora/locks', '@agora/sdk', '@agora/state']);
    for (const [name, list] of Object.entries(files)) {
      expect(list, name).toEqual(expect.arrayContaining(['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts']));
      expect(list.filter((f) => /(^|\/)test\/|\.test\./.test(f)), name).toEqual([]);
    }
    expect(files['@agora/state']!.filter((f) => f.startsWith('commands/') && f.endsWith('.lua')).length).toBeGreaterThan(5);
    expect(files['@agora/locks']!.filter((f) => f.startsWith('commands/') && f.endsWith('.lua')).length).toBeGreaterThan(1);
    expect(files['@agora/sdk']).toEqual(expect.arrayContaining(['dist/http-client.js', 'dist/http-client.d.ts']));
  });

  it('installs from the tarballs alone: every @agora package resolves to its tarball, none from a registry', () => {
    const lock = JSON.parse(readFileSync(path.join(consumer, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string; resolved?: string }> };
    const ours = Object.entries(lock.packages).filter(([p]) => p.includes('node_modules/@agora/'));
    expect(ours.map(([p]) => p).sort()).toEqual(['node_modules/@agora/audit', 'node_modules/@agora/core', 'node_modules/@agora/locks', 'node_modules/@agora/sdk', 'node_modules/@agora/state']);
    for (const [p, entry] of ours) expect(entry.resolved, p).toMatch(/^file:.*\.tgz$/);
    // Outside the repo: nothing in it resolves through a parent node_modules.
    expect(path.relative(REPO, consumer).startsWith('..')).toBe(true);
  });

  it('exports AgoraClient, AgoraHttpClient, PlanValidationError and the schemas to plain node, and refuses a bad plan with its problems', () => {
    writeFileSync(
      path.join(consumer, 'exports.mjs'),
      `import * as sdk from '@agora/sdk';
const { PlanValidationError, AgoraHttpClient } = sdk;
const problems = [];
try {
  await new AgoraHttpClient({ url: 'http://127.0.0.1:9' }).submit({ id: 'p', items: [{ id: 'a', executor: 'noop', depends_on: ['a'] }] });
} catch (err) {
  problems.push(err instanceof PlanValidationError, err.code, ...err.problems);
}
console.log(JSON.stringify({ exports: Object.keys(sdk), problems, resolved: import.meta.resolve('@agora/sdk') }));
`,
    );
    const r = node(['exports.mjs']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { exports: string[]; problems: unknown[]; resolved: string };
    expect(out.exports).toEqual(
      expect.arrayContaining(['AgoraClient', 'AgoraHttpClient', 'createAgoraClient', 'PlanValidationError', 'NotFoundError', 'UnavailableError', 'ValueError', 'IllegalStateError', 'AgoraError', 'agoraEventSchema', 'planSchema', 'validatePlan']),
    );
    expect(out.problems).toEqual([true, 'PLAN_INVALID', 'items[0] ("a"): depends_on[0]: item depends on itself']);
    expect(fileURLToPath(out.resolved)).toBe(path.join(consumer, 'node_modules', '@agora', 'sdk', 'dist', 'index.js'));
  });

  it('type-checks a TypeScript consumer against the packed types', () => {
    // The README's example is plain JavaScript with JSDoc types (it runs with node as pasted):
    // checked as such (checkJs), as an editor would check it.
    writeFileSync(path.join(consumer, 'tsconfig.json'), JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, allowJs: true, checkJs: true, types: ['node'] }, files: ['service.ts', 'readme.mjs'] }));
    // The README's example, as a service would paste it.
    const example = /### Install the SDK[\s\S]*?```js\n([\s\S]*?)```/.exec(readFileSync(path.join(REPO, 'README.md'), 'utf8'))?.[1];
    expect(example).toContain("from '@agora/sdk'");
    writeFileSync(path.join(consumer, 'readme.mjs'), example!);
    writeFileSync(
      path.join(consumer, 'service.ts'),
      `import { AgoraClient, AgoraHttpClient, PlanValidationError, createAgoraClient, type AgoraApi, type AgoraEvent, type ItemDetail, type PlanInput, type RunStatus, type RunsPage } from '@agora/sdk';

const plan: PlanInput = { id: 'typed', queue: 'default', items: [{ id: 'a', executor: 'noop', inputs: {} }] };

export async function run(api: AgoraApi): Promise<RunStatus> {
  const runId: string = await api.submit(plan, { runId: 'rtyped1' });
  for await (const e of api.watch(runId, { fromSeq: 0 })) {
    const seen: AgoraEvent = e;
    if (seen.type === 'item' && seen.state === 'failed') console.log(seen.itemId, seen.error, seen.errorCode);
  }
  const item: ItemDetail = await api.item(runId, 'a');
  const page: RunsPage = await api.runs({ state: 'succeeded', limit: 10 });
  console.log(item.attempts, page.runs.length, page.next);
  return api.wait(runId);
}

export const apis: AgoraApi[] = [new AgoraClient({ redisUrl: 'redis://127.0.0.1:6379' }), new AgoraHttpClient({ url: 'http://127.0.0.1:3000', apiKey: 'k' }), createAgoraClient({ http: { url: 'http://x' } })];
export const problems: readonly string[] = new PlanValidationError(['x']).problems;

// The types are real, not any: each of these must be an error.
// @ts-expect-error a run id is a string
export const wrong: Promise<number> = apis[0]!.submit(plan);
// @ts-expect-error no such option
new AgoraHttpClient({ url: 'http://x', apikey: 'k' });
// @ts-expect-error an event has no field "colour"
export const colour = (e: AgoraEvent): string => e.colour;
`,
    );
    const r = spawnSync(process.execPath, [path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', consumer], { cwd: consumer, encoding: 'utf8', timeout: 120_000 });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('submits and watches a plan to its end over Redis and over the dashboard HTTP API, against the CLI scheduler, runner and dashboard', async () => {
    e = cliEnv({ dashboard: { apiKey: KEY } });
    await e.start(['serve'], /scheduler serving/);
    await e.start(['runner', '--concurrency', '2'], /runner started/);
    const port = await freePort();
    await e.start(['dashboard', '--port', String(port)], /\/queues/);
    writeFileSync(
      path.join(consumer, 'service.mjs'),
      `import { AgoraClient, AgoraHttpClient, NotFoundError } from '@agora/sdk';
const api = process.argv[2] === 'http'
  ? new AgoraHttpClient({ url: process.env.AGORA_URL, apiKey: process.env.AGORA_API_KEY })
  : new AgoraClient({ redisUrl: process.env.REDIS_URL, namespace: process.env.AGORA_NAMESPACE });
const item = (id, depends_on = []) => ({ id, executor: 'noop', inputs: { who: id }, depends_on });
const runId = await api.submit({ id: 'installed-' + process.argv[2], queue: 'default', items: [item('a'), item('b'), item('c', ['a', 'b'])] });
const events = [];
for await (const e of api.watch(runId)) events.push(e);
const status = await api.wait(runId);
const c = await api.item(runId, 'c');
const listed = (await api.runs({ limit: 50 })).runs.some((r) => r.runId === runId);
let missing = null;
await api.status('rnosuchrun').catch((err) => (missing = err instanceof NotFoundError));
await api.close();
console.log(JSON.stringify({ runId, events, status, c, listed, missing }));
`,
    );
    const env = { REDIS_URL: String(e.env['REDIS_URL']), AGORA_NAMESPACE: e.namespace, AGORA_URL: `http://127.0.0.1:${port}`, AGORA_API_KEY: KEY };
    for (const transport of ['redis', 'http']) {
      const r = node(['service.mjs', transport], env);
      expect(r.code, `${transport}: ${r.stderr}`).toBe(0);
      const out = JSON.parse(r.stdout) as {
        runId: string;
        events: Array<{ seq: number; type: string; state?: string; itemId?: string }>;
        status: { state: string; counts: { done: number }; items: Array<{ id: string; state: string; resultRef?: string }> };
        c: { itemId: string; state: string; dependsOn: string[]; attempts: number };
        listed: boolean;
        missing: boolean;
      };
      expect(out.events.map((x) => x.seq), transport).toEqual(out.events.map((_, i) => i));
      expect(out.events[0], transport).toMatchObject({ type: 'run', state: 'accepted' });
      expect(out.events.at(-1), transport).toMatchObject({ type: 'run', state: 'succeeded', done: 3 });
      expect(out.events.filter((x) => x.type === 'item' && x.state === 'done').map((x) => x.itemId).sort(), transport).toEqual(['a', 'b', 'c']);
      expect(out.status, transport).toMatchObject({ runId: out.runId, state: 'succeeded', counts: { done: 3 } });
      for (const i of out.status.items) expect(i.resultRef, `${transport} ${i.id}`).toMatch(new RegExp(`^agora://${e.namespace}/result/`));
      expect(out.c, transport).toMatchObject({ itemId: 'c', state: 'done', dependsOn: ['a', 'b'], attempts: 1 });
      expect(out.listed, transport).toBe(true);
      expect(out.missing, transport).toBe(true);
    }
    // Without the key the dashboard refuses the HTTP transport, and says what to pass.
    const refused = node(['service.mjs', 'http'], { ...env, AGORA_API_KEY: '' });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('refused the API key');
  }, 180_000);
});
