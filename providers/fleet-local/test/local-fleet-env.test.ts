import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalFleetProvider } from '@agora/fleet-local';
import { until } from '../../../test/support/index.js';

/**
 * A replica starts in the config's folder, not in the CLI's working directory: a file the CLI's
 * environment names by a relative path (a private CA, a mounted secret) must reach it absolute.
 */
const dir = mkdtempSync(path.join(os.tmpdir(), 'agora-fleet-local-env-'));
const saved = { ca: process.env['AGORA_REDIS_CA_FILE'], token: process.env['AGORA_TEST_TOKEN_FILE'] };
afterAll(() => {
  for (const [k, v] of [['AGORA_REDIS_CA_FILE', saved.ca], ['AGORA_TEST_TOKEN_FILE', saved.token]] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('LocalFleetProvider environment', () => {
  it('passes *_FILE variables (AGORA_REDIS_CA_FILE, <NAME>_FILE secrets) as absolute paths of the CLI\'s working directory', async () => {
    process.env['AGORA_REDIS_CA_FILE'] = 'certs/ca.pem';
    process.env['AGORA_TEST_TOKEN_FILE'] = '/already/absolute';
    const out = path.join(dir, 'env.json');
    // Stands in for `agora runner`: records what it was given, then ends.
    const script = `require('fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify({ ca: process.env.AGORA_REDIS_CA_FILE, token: process.env.AGORA_TEST_TOKEN_FILE, cwd: process.cwd() }))`;
    const configDir = path.join(dir, 'config');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(configDir);
    const fleet = new LocalFleetProvider(
      { command: [process.execPath, '-e', script], vcpu: 1, stopTimeoutMs: 1000 },
      { name: 'envcheck', namespace: 'envcheck', configDir, dataDir: path.join(dir, 'data'), runnerLaunch: { redisUrl: 'redis://127.0.0.1:1' } },
    );
    await fleet.scale(1);
    await until('the stand-in runner wrote its environment', async () => existsSync(out), 10_000, 50);
    await fleet.stop();
    const seen = JSON.parse(readFileSync(out, 'utf8')) as { ca: string; token: string; cwd: string };
    expect(seen.cwd).toBe(configDir);
    expect(seen.ca).toBe(path.resolve('certs/ca.pem'));
    expect(seen.token).toBe('/already/absolute');
  });
});
