import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ValueError, compileConfig } from '@agora/core';
import { checkProviders, chooseFleet, createFleetProvider, defaultRegistry } from '@agora/registry';

const dir = mkdtempSync(path.join(os.tmpdir(), 'agora-fleet-reg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = (fleet: Record<string, unknown>) => compileConfig({ fleet }, 'test', dir, { AGORA_DATA_DIR: path.join(dir, '.agora') });

describe('fleet providers in the registry', () => {
  it('registers local, docker and ecs under the kind "fleet"', () => {
    expect(defaultRegistry().aliases('fleet')).toEqual(['docker', 'ecs', 'local']);
  });

  it('chooses the only fleet, or the one named; refuses none, several and unknown ones', () => {
    expect(chooseFleet(config({ a: { provider: 'local' } }))).toBe('a');
    const two = config({ a: { provider: 'local' }, b: { provider: 'local' } });
    expect(chooseFleet(two, 'b')).toBe('b');
    expect(() => chooseFleet(two)).toThrow(new ValueError('several fleets are configured (a, b): name one with --provider <name>'));
    expect(() => chooseFleet(two, 'c')).toThrow(new ValueError('unknown fleet "c" (configured: a, b)'));
    expect(() => chooseFleet(config({}))).toThrow(/no fleet is configured/);
  });

  it('a provider refuses options it does not know, naming the path', async () => {
    const cfg = config({ box: { provider: 'docker', options: { image: 'x', replica: 2 } } });
    await expect(createFleetProvider(cfg, 'box', { redisUrl: 'redis://127.0.0.1:1' })).rejects.toThrow(/^fleet\.box\.options: Unrecognized key: "replica"/);
  });

  it('doctor rows: every fleet health() runs and names what is missing', async () => {
    const cfg = config({
      here: { provider: 'local', options: { command: [process.execPath, '/nonexistent/agora/bin.js'] } },
      box: { provider: 'docker', options: { image: 'localhost/agora/agora:latest', socketPath: path.join(dir, 'no.sock') } },
    });
    const rows = (await checkProviders(cfg)).filter((r) => r.kind === 'fleet');
    expect(rows).toEqual([
      { kind: 'fleet', name: 'here', provider: 'local', ok: false, message: 'cannot read /nonexistent/agora/bin.js (fleet.here.options.command)' },
      expect.objectContaining({ kind: 'fleet', name: 'box', provider: 'docker', ok: false, message: expect.stringMatching(new RegExp(`^Docker Engine API at unix://${dir}/no.sock does not answer`)) }),
    ]);
  });
});
