import { chmodSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cliEnv } from '../../../test/support/cli.js';

/** The audit signing key under `<dataDir>/keys/`: a looser directory is tightened, a readable key refused at start. */
const env = cliEnv({ queues: { default: { concurrency: 1 } } });
afterAll(() => env.close());

describe('signing key modes', () => {
  const keys = path.join(String(env.env['AGORA_DATA_DIR']), 'keys');
  const mode = (p: string): string => (statSync(p).mode & 0o777).toString(8);

  it('a key directory open to group or others is tightened to 0700, with a warning', () => {
    expect(env.agora(['audit', 'pubkey']).code).toBe(0);
    chmodSync(keys, 0o755);
    const r = env.agora(['audit', 'pubkey']);
    expect(r.code, r.stderr).toBe(0);
    expect(mode(keys)).toBe('700');
    expect(r.stderr).toMatch(/signing key directory .* was accessible by group or others \(mode 755\); tightened to 700/);
  });

  it('agora serve refuses to start on a key file readable by others: exit 2, naming the chmod', () => {
    const key = path.join(keys, `agora-${env.namespace}.key`);
    expect(mode(key)).toBe('600');
    chmodSync(key, 0o644);
    const r = env.agora(['serve'], { timeoutMs: 20_000 });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`signing key ${key} is accessible by group or others (mode 644); chmod 600 it`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    chmodSync(key, 0o600);
  });
});
