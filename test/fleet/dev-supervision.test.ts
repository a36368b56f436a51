import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AgoraClient } from '@agora/sdk';
import { BIN, cliEnv, type CliEnv } from '../support/cli.js';

/**
 * Crashes are contained: a runner that hits an unexpected exception logs one JSON line and exits
 * non-zero; `agora dev` restarts it with back-off; Ctrl-C drains runners (their items are handed
 * back, their workers stopped) before the scheduler and Redis stop; no worker outlives its runner.
 */
const envs: CliEnv[] = [];
const procs: ChildProcess[] = [];
afterAll(async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  for (const e of envs) await e.close();
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor<T>(what: string, get: () => T | undefined | false, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('agora dev supervises its runners', () => {
  it('a runner that crashes is logged and restarted; Ctrl-C hands items back and leaves no worker behind', async () => {
    const env = cliEnv({ runner: { shutdownGraceMs: 500 } });
    envs.push(env);
    const pidFile = path.join(env.dir, 'worker.pid');
    const crashMarker = path.join(env.dir, 'crashed-once');
    // A fault injected from outside the product: the first runner process throws an uncaught
    // error half a second after it says it started (preloaded through NODE_OPTIONS; it watches
    // its own stderr for the line; later runners do not crash).
    const preload = env.writeJson(
      'crash-once.mjs',
      `import { existsSync, writeFileSync } from 'node:fs';
if (process.argv.includes('runner') && !existsSync(${JSON.stringify(crashMarker)})) {
  writeFileSync(${JSON.stringify(crashMarker)}, String(process.pid));
  const write = process.stderr.write.bind(process.stderr);
  let armed = false;
  process.stderr.write = (chunk, ...rest) => {
    if (!armed && String(chunk).includes('runner started')) {
      armed = true;
      setTimeout(() => { throw new Error('injected fault: boom'); }, 500);
    }
    return write(chunk, ...rest);
  };
}`,
    );
    writeFileSync(
      path.join(env.dir, 'agora.config.json'),
      JSON.stringify({
        namespace: env.namespace,
        runner: { shutdownGraceMs: 500 },
        tasks: {
          long: {
            command: [process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); setTimeout(() => {}, 120000)`],
          },
        },
      }),
    );
    const dev = spawn(process.execPath, [BIN, 'dev', '--runners', '1', '--port', '0'], {
      cwd: env.dir,
      env: { ...env.env, NODE_OPTIONS: `--import ${preload}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    procs.push(dev);
    let out = '';
    dev.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    dev.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const lines = (): Array<Record<string, unknown>> =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);

    await waitFor('agora dev up', () => out.includes('agora dev is up'));
    const crash = await waitFor('the crash line', () => lines().find((l) => l['msg'] === 'runner crashed: unexpected error, exiting'));
    expect(crash).toMatchObject({ level: 'error', component: 'runner', kind: 'uncaughtException', err: 'injected fault: boom' });
    expect(String(crash['stack'])).toContain('injected fault: boom');
    const exited = await waitFor('the restart notice', () => lines().find((l) => l['msg'] === 'runner exited unexpectedly; restarting it'));
    expect(exited).toMatchObject({ component: 'dev', code: 1, restartInMs: 1000 });
    await waitFor('the restarted runner', () => lines().find((l) => l['msg'] === 'runner restarted'));
    // Every crash line is a single JSON object: no multi-line stacks on stderr.
    expect(out.split('\n').filter((l) => l.includes('injected fault') && !l.startsWith('{'))).toEqual([]);

    // The restarted runner takes work; Ctrl-C while its worker runs hands the item back.
    const client = new AgoraClient({ redisUrl: String(env.env['REDIS_URL']), namespace: env.namespace });
    try {
      const runId = await client.submit({ id: 'dev', items: [{ id: 'long', executor: 'dispatch', inputs: { task: 'long' } }] });
      const workerPid = Number(await waitFor('the worker', () => existsSync(pidFile) && readFileSync(pidFile, 'utf8')));
      expect(alive(workerPid)).toBe(true);
      const t0 = Date.now();
      dev.kill('SIGINT');
      const code = await new Promise<number | null>((r) => dev.once('exit', (c) => r(c)));
      expect(code).toBe(0);
      expect(Date.now() - t0).toBeLessThan(15_000);
      expect(alive(workerPid)).toBe(false);
      const events = await client.events(runId);
      expect(events.filter((e) => e.type === 'handedBack').map((e) => e.itemId)).toEqual(['long']);
      expect(events.some((e) => e.state === 'cancelled')).toBe(false);
    } finally {
      await client.close();
    }
  }, 90_000);
});

describe('no worker outlives its runner', () => {
  it('a runner killed with SIGKILL takes its worker process with it', async () => {
    const env = cliEnv();
    envs.push(env);
    const pidFile = path.join(env.dir, 'orphan.pid');
    writeFileSync(
      path.join(env.dir, 'agora.config.json'),
      JSON.stringify({
        namespace: env.namespace,
        tasks: { long: { command: [process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); setTimeout(() => {}, 120000)`] } },
      }),
    );
    await env.start(['serve'], /scheduler (serving|active)/);
    const runner = await env.start(['runner'], /runner started/);
    const client = new AgoraClient({ redisUrl: String(env.env['REDIS_URL']), namespace: env.namespace });
    try {
      await client.submit({ id: 'orphan', items: [{ id: 'long', executor: 'dispatch', inputs: { task: 'long' } }] });
      const workerPid = Number(await waitFor('the worker', () => existsSync(pidFile) && readFileSync(pidFile, 'utf8')));
      expect(alive(workerPid)).toBe(true);
      runner.kill('SIGKILL');
      await waitFor('the worker to die with its runner', () => !alive(workerPid), 5000);
    } finally {
      await client.close();
    }
  }, 60_000);
});
