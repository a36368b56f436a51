import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv } from '../../../test/support/cli.js';

/**
 * What a real run leaves on disk, and what `agora get -o` and `agora audit --out` write, is
 * private to its user whatever the umask: results, logs and evidence bundles may be sensitive.
 * Every agora process here runs under umask 000, so a mode left to the umask shows up as 0666.
 */
const env = cliEnv({ queues: { default: { concurrency: 2 } }, tasks: { echo: { command: [process.execPath, '-e', 'process.stdout.write("done")'] } } });
let oldUmask: number;
let runId: string;
beforeAll(async () => {
  oldUmask = process.umask(0);
  await env.start(['serve'], /scheduler serving/);
  await env.start(['runner', '--concurrency', '2'], /runner started/);
  const sub = env.agora(['submit', env.writeJson('plan.json', { id: 'modes', items: [{ id: 'a', executor: 'noop', inputs: { secret: 'result' } }, { id: 'b', executor: 'dispatch', inputs: { task: 'echo', workerInput: { secret: 'input' } } }] })]);
  expect(sub.code, sub.stderr).toBe(0);
  runId = sub.stdout.trim();
  expect(env.agora(['watch', runId]).code).toBe(0);
}, 90_000);
afterAll(async () => {
  process.umask(oldUmask);
  await env.close();
});

const mode = (p: string): string => (statSync(p).mode & 0o777).toString(8);
/** Every path under `dir` (itself included) whose mode is not 0700 (directories) or 0600 (files). */
function looser(dir: string): string[] {
  const out = mode(dir) === '700' ? [] : [`${dir} ${mode(dir)}`];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...looser(p));
    else if (mode(p) !== '600') out.push(`${p} ${mode(p)}`);
  }
  return out;
}

describe('file modes under umask 000', () => {
  it('a run leaves its artifacts 0600 in 0700 directories, and the signing key so', async () => {
    const data = String(env.env['AGORA_DATA_DIR']);
    // The run's end writes its seal; the key is made at the scheduler's start.
    expect(looser(path.join(data, 'storage'))).toEqual([]);
    expect(looser(path.join(data, 'keys'))).toEqual([]);
  });

  it("the runner's work folder (items' inputs and their dependencies' results) is 0700", () => {
    expect(mode(path.join(String(env.env['AGORA_DATA_DIR']), 'work'))).toBe('700');
  });

  it('agora get -o and agora audit --out create their file 0600', () => {
    const ref = (JSON.parse(env.agora(['status', runId]).stdout) as { items: Array<{ resultRef: string }> }).items[0]!.resultRef;
    const out = path.join(env.dir, 'result.json');
    const got = env.agora(['get', ref, '-o', out]);
    expect(got.code, got.stderr).toBe(0);
    const bundle = path.join(env.dir, 'bundle.json');
    const audited = env.agora(['audit', runId, '--out', bundle]);
    expect(audited.code, audited.stderr).toBe(0);
    expect([mode(out), mode(bundle)]).toEqual(['600', '600']);
  });
});
