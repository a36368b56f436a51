import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, cliEnv, type CliEnv } from '../../../test/support/cli.js';
import { procStat } from '@agora/core';
import { devOwnerOf } from '../src/dev-owner.js';

/**
 * Issue 16, part 3 (a CLI for people): verbs run from any folder find a running `agora dev` (a
 * per-user pointer), `agora --version`, and a taken port named with the flag that changes it.
 */

const envs: CliEnv[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const e of envs) await e.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('agora dev found from another folder', () => {
  it('submit, watch and status from a folder with no config reach dev through the per-user pointer, which dev removes on exit', async () => {
    const e = cliEnv({ queues: { default: { concurrency: 2 } } });
    envs.push(e);
    delete e.env['REDIS_URL'];
    const dev = await e.start(['dev', '--runners', '1', '--port', '0'], /agora dev is up/);
    const pointer = path.join(String(e.env['XDG_STATE_HOME']), 'agora', 'dev.json');
    expect(statSync(pointer).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(pointer)).mode & 0o777).toBe(0o700);

    // Another folder: no config file, no data dir, no REDIS_URL, only the same user state home.
    const elsewhere = mkdtempSync(path.join(os.tmpdir(), 'agora-elsewhere-'));
    dirs.push(elsewhere);
    const env: NodeJS.ProcessEnv = { ...e.env };
    delete env['AGORA_DATA_DIR'];
    const agora = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { cwd: elsewhere, env, encoding: 'utf8', timeout: 60_000 });
    writeFileSync(path.join(elsewhere, 'plan.json'), JSON.stringify({ id: 'anywhere', items: [{ id: 'a', executor: 'noop' }, { id: 'b', executor: 'noop', depends_on: ['a'] }] }));
    const sub = agora(['submit', 'plan.json']);
    expect(sub.status, sub.stderr).toBe(0);
    const runId = sub.stdout.trim();
    const watch = agora(['watch', runId]);
    expect(watch.status, watch.stderr).toBe(0);
    const status = JSON.parse(agora(['status', runId]).stdout) as { state: string };
    expect(status.state).toBe('succeeded');
    // The verb used dev's config (its namespace), so the run is in dev's namespace, where dev's own folder sees it.
    expect(JSON.parse(e.agora(['status', runId]).stdout)).toMatchObject({ state: 'succeeded' });

    dev.kill('SIGTERM');
    await new Promise((r) => dev.once('exit', r));
    expect(existsSync(pointer)).toBe(false);
  }, 90_000);
});

describe('agora dev keeps its data private', () => {
  it('creates the private Redis\' directory (its AOF: every job\'s data), keys/ and storage/ with mode 0700, as dev.json is 0600', async () => {
    const e = cliEnv({ queues: { default: { concurrency: 1 } } });
    envs.push(e);
    delete e.env['REDIS_URL'];
    const dataDir = String(e.env['AGORA_DATA_DIR']);
    // A storage root left 0755 (by an older version, or another verb) is tightened too.
    mkdirSync(path.join(dataDir, 'storage'), { recursive: true });
    chmodSync(path.join(dataDir, 'storage'), 0o755);
    const dev = await e.start(['dev', '--runners', '1', '--port', '0'], /agora dev is up/);
    // A run that ends is sealed: the signing key is created in keys/ on first use.
    const sub = e.agora(['submit', e.writeJson('p.json', { id: 'private', items: [{ id: 'a', executor: 'noop' }] })]);
    expect(sub.code, sub.stderr).toBe(0);
    expect(e.agora(['watch', sub.stdout.trim()]).code).toBe(0);
    expect(e.agora(['audit', sub.stdout.trim()]).code).toBe(0);
    const modeOf = (p: string): string => (statSync(p).mode & 0o777).toString(8);
    const modes = Object.fromEntries(readdirSync(dataDir).map((n) => [n, modeOf(path.join(dataDir, n))]));
    expect(modes).toMatchObject({ 'dev.json': '600', 'dev.redis-url': '600', redis: '700', keys: '700', storage: '700' });
    dev.kill('SIGTERM');
    await new Promise((r) => dev.once('exit', r));
  }, 90_000);
});

describe('one agora dev per data dir', () => {
  it('a second agora dev on the same data dir is refused (exit 2) and leaves the first one working', async () => {
    // Before, it started a second redis-server on the same AOF and, stopping, removed the first one's pointer files.
    const e = cliEnv({ queues: { default: { concurrency: 1 } } });
    envs.push(e);
    delete e.env['REDIS_URL'];
    const dev = await e.start(['dev', '--runners', '0', '--port', '0'], /agora dev is up/);
    const second = e.agora(['dev', '--runners', '0', '--port', '0'], { timeoutMs: 30_000 });
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(/agora dev is already running on the data dir .* \(pid \d+/);
    expect(existsSync(path.join(String(e.env['AGORA_DATA_DIR']), 'dev.json'))).toBe(true);
    const runs = e.agora(['runs', '--json']);
    expect(runs.code, runs.stderr).toBe(0);
    dev.kill('SIGTERM');
    await new Promise((r) => dev.once('exit', r));
    expect(existsSync(path.join(String(e.env['AGORA_DATA_DIR']), 'dev.json'))).toBe(false);
  }, 90_000);

  it('a dev.json left by a dev that died, whose pid another process has taken since, does not refuse a new dev', () => {
    const stateFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'agora-devowner-')), 'dev.json');
    dirs.push(path.dirname(stateFile));
    // This test process is alive, but it is not the dev that wrote the file (another start time).
    writeFileSync(stateFile, JSON.stringify({ pid: process.ppid, procStart: '1', dashboard: 'http://x' }));
    expect(devOwnerOf(stateFile)).toBeUndefined();
    // The same pid with its real start time is a live owner.
    const start = procStat(process.ppid)!.start;
    writeFileSync(stateFile, JSON.stringify({ pid: process.ppid, procStart: start, dashboard: 'http://x' }));
    expect(devOwnerOf(stateFile)).toEqual({ pid: process.ppid, dashboard: 'http://x' });
  });
});

describe('agora for people', () => {
  it('--version prints the CLI package version and exits 0', () => {
    const e = cliEnv();
    envs.push(e);
    const r = e.agora(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect(e.agora(['-V']).stdout).toBe(r.stdout);
  });

  it('a taken port is named with the flag and the config key that change it (exit 3), for the dashboard and for metrics', async () => {
    const e = cliEnv();
    envs.push(e);
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const dash = e.agora(['dashboard', '--port', String(port)]);
      expect(dash.code).toBe(3);
      expect(dash.stderr).toContain(`port ${port} on 127.0.0.1 is taken`);
      expect(dash.stderr).toContain('use --port <port> or set dashboard.port');
      const runner = e.agora(['runner', '--metrics-port', String(port)]);
      expect(runner.code).toBe(3);
      expect(runner.stderr).toContain('use --metrics-port <port> or set metrics.port');
    } finally {
      blocker.close();
    }
  }, 60_000);
});
