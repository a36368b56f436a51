import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileConfig, type AgoraConfig } from '@agora/core';
import { createDashboard, type Dashboard } from '@agora/dashboard';
import { lockKeys } from '@agora/locks';
import { createRunner, type Runner } from '@agora/runner';
import { createScheduler, type Scheduler } from '@agora/scheduler';
import { AgoraClient } from '@agora/sdk';
import { REDIS_CA_FILE_ENV, createRedis, startRedisServer, stateKeys, type RedisServerHandle } from '@agora/state';
import { assertRedisReachable } from '../../apps/cli/src/redis-check.js';
import { BIN } from '../support/cli.js';
import { silent } from '../support/cluster.js';
import { uniqueNamespace } from '../support/index.js';

/**
 * Least privilege on the wire: a Redis that serves TLS only, with the users of the shipped
 * deploy/redis-acl.conf (namespace and passwords filled in). Each role works with its own user
 * over `rediss://` and the CA file; the submitter can add plans and read its runs, nothing else.
 */
const ROLES = ['scheduler', 'runner', 'dashboard', 'submitter'] as const;
type Role = (typeof ROLES)[number];

const ns = uniqueNamespace();
const dir = mkdtempSync(path.join(os.tmpdir(), 'agora-tls-acl-'));
const passwords = Object.fromEntries(ROLES.map((r) => [r, randomBytes(24).toString('hex')])) as Record<Role, string>;
const adminPassword = randomBytes(24).toString('hex');
let server: RedisServerHandle;
const savedCaEnv = process.env[REDIS_CA_FILE_ENV];
const caFile = path.join(dir, 'ca.crt');

function openssl(args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/** The shipped ACL file with the test namespace and passwords in place of "agora" and the placeholders. */
function aclFileFor(namespace: string): string {
  const shipped = readFileSync(path.join(import.meta.dirname, '../../deploy/redis-acl.conf'), 'utf8');
  const lines = shipped
    .split('\n')
    .filter((l) => l.startsWith('user '))
    .map((l) =>
      l
        .replace(/\$\{AGORA_REDIS_([A-Z]+)_PASSWORD\}/g, (_, role: string) => passwords[role.toLowerCase() as Role])
        .replace(/(?<=[~&%R])agora(?=:)|\{agora\}/g, (m) => (m === '{agora}' ? `{${namespace}}` : namespace)),
    );
  expect(lines).toHaveLength(5);
  expect(lines.join('\n')).not.toContain('${');
  // Test only: an admin to read the ACL log (which commands were refused to whom).
  return `${lines.join('\n')}\nuser admin on >${adminPassword} ~* &* +@all\n`;
}

function url(role: Role | null, scheme = 'rediss'): string {
  return `${scheme}://${role ? `${role}:${passwords[role]}@` : ''}127.0.0.1:${server.port}`;
}

function configFor(role: Role, dataDir: string): AgoraConfig {
  return compileConfig({ namespace: ns, dataDir }, 'test', dataDir, { REDIS_URL: url(role) });
}

async function expectNoPerm(p: Promise<unknown>): Promise<void> {
  await expect(p).rejects.toThrow(/NOPERM/);
}

beforeAll(async () => {
  // A throwaway CA and a server certificate for 127.0.0.1 signed by it.
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=agora-test-ca']);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost']);
  writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '1', '-extfile', 'ext.cnf']);
  const aclFile = path.join(dir, 'users.acl');
  writeFileSync(aclFile, aclFileFor(ns), { mode: 0o600 });
  server = await startRedisServer({ tls: { certFile: path.join(dir, 'server.crt'), keyFile: path.join(dir, 'server.key'), caFile }, aclFile });
  process.env[REDIS_CA_FILE_ENV] = caFile;
}, 30_000);

afterAll(async () => {
  if (savedCaEnv === undefined) delete process.env[REDIS_CA_FILE_ENV];
  else process.env[REDIS_CA_FILE_ENV] = savedCaEnv;
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('TLS and per-role Redis users', () => {
  it('connects over rediss:// with the CA file only; plain text, an unknown CA and the default user are refused', async () => {
    await assertRedisReachable(url('submitter'));
    await expect(assertRedisReachable(url('submitter', 'redis'), 2000)).rejects.toThrow(/cannot reach Redis/);
    delete process.env[REDIS_CA_FILE_ENV];
    try {
      await expect(assertRedisReachable(url('submitter'), 2000)).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i);
    } finally {
      process.env[REDIS_CA_FILE_ENV] = caFile;
    }
    await expect(assertRedisReachable(url(null), 2000)).rejects.toThrow(/NOAUTH|authentication|WRONGPASS|disabled/i);
  }, 20_000);

  it('a CA file that holds no certificate is a bad setting (exit 2, named); a CA that did not sign the server\'s certificate says to set AGORA_REDIS_CA_FILE (exit 3)', () => {
    const agora = (ca: string) =>
      spawnSync(process.execPath, [BIN, 'runs'], { cwd: dir, env: { PATH: process.env['PATH'], HOME: dir, AGORA_DATA_DIR: path.join(dir, 'cli-data'), REDIS_URL: url('dashboard'), [REDIS_CA_FILE_ENV]: ca }, encoding: 'utf8', timeout: 30_000 });
    // An empty file, a key and a wrong path's text: Node would verify against no CA at all.
    for (const [name, text] of [['empty.pem', ''], ['not-a-cert.pem', readFileSync(path.join(dir, 'server.key'), 'utf8')]] as const) {
      const file = path.join(dir, name);
      writeFileSync(file, text);
      const r = agora(file);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toBe(`agora: ${REDIS_CA_FILE_ENV}: the CA file ${JSON.stringify(file)} holds no PEM certificate (-----BEGIN CERTIFICATE-----)\n`);
    }
    openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'other.key', '-out', 'other.crt', '-days', '1', '-subj', '/CN=another-ca']);
    const wrong = agora(path.join(dir, 'other.crt'));
    expect(wrong.status, wrong.stderr).toBe(3);
    expect(wrong.stderr).toContain('set AGORA_REDIS_CA_FILE to the PEM file of the CA that signed it');
    expect(wrong.stderr).not.toContain(passwords.dashboard);
    // A cluster URL: the cluster client only says "Failed to refresh slots cache"; the seed's own refusal is named.
    const clusterUrl = url('dashboard').replace(/^rediss:/, 'rediss+cluster:');
    const cluster = spawnSync(process.execPath, [BIN, 'runs'], { cwd: dir, env: { PATH: process.env['PATH'], HOME: dir, AGORA_DATA_DIR: path.join(dir, 'cli-data'), REDIS_URL: clusterUrl, [REDIS_CA_FILE_ENV]: path.join(dir, 'other.crt') }, encoding: 'utf8', timeout: 30_000 });
    expect(cluster.status, cluster.stderr).toBe(3);
    expect(cluster.stderr).toMatch(/self[- ]signed certificate.*set AGORA_REDIS_CA_FILE to the PEM file of the CA that signed it/);
    expect(cluster.stderr).not.toContain(passwords.dashboard);
    const refused = spawnSync(process.execPath, [BIN, 'runs'], { cwd: dir, env: { PATH: process.env['PATH'], HOME: dir, AGORA_DATA_DIR: path.join(dir, 'cli-data'), REDIS_URL: 'redis+cluster://127.0.0.1:1' }, encoding: 'utf8', timeout: 30_000 });
    expect(refused.status, refused.stderr).toBe(3);
    expect(refused.stderr).toContain('cannot reach Redis at redis+cluster://127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1.');
  }, 60_000);

  it('scheduler, runner, dashboard and submitter each on their own user run and show a plan with a dependency and a lock; the submitter reads it and can touch nothing else', async () => {
    const dataDir = mkdtempSync(path.join(dir, 'data-'));
    let scheduler: Scheduler | undefined;
    let runner: Runner | undefined;
    let dashboard: Dashboard | undefined;
    const client = new AgoraClient({ redisUrl: url('submitter'), namespace: ns });
    const raw = createRedis(url('submitter'));
    try {
      scheduler = await createScheduler({ config: configFor('scheduler', dataDir), logger: silent, executors: ['noop'] });
      runner = await createRunner({ config: configFor('runner', dataDir), logger: silent, runnerId: 'tls-runner', cpus: 8 });
      const runId = await client.submit({
        id: 'tls-acl',
        items: [
          { id: 'a', executor: 'noop', resourceLocks: ['db/main'] },
          { id: 'b', executor: 'noop', depends_on: ['a'], resourceLocks: ['db/main'] },
          { id: 'c', executor: 'noop', depends_on: ['a'] },
        ],
      });
      const done = await client.wait(runId);
      expect(done.state).toBe('succeeded');
      expect((await client.status(runId)).state).toBe('succeeded');
      const events = await client.events(runId);
      expect(events.filter((e) => e.type === 'item' && e.state === 'done').map((e) => e.itemId).sort()).toEqual(['a', 'b', 'c']);

      // The dashboard on its own user shows the run and its events.
      const apiKey = randomBytes(16).toString('hex');
      dashboard = await createDashboard({ config: configFor('dashboard', dataDir), port: 0, logger: silent, apiKey, refreshMs: 60_000 });
      const auth = { headers: { authorization: `Bearer ${apiKey}` } };
      const shown = await fetch(`${dashboard.url}/api/runs/${runId}`, auth);
      expect(shown.status).toBe(200);
      expect(((await shown.json()) as { state?: string }).state).toBe('succeeded');
      expect((await fetch(`${dashboard.url}/api/runs/${runId}/events`, auth)).status).toBe(200);

      // The submitter's user, raw: it reads its run but writes nothing outside the inbox.
      const k = stateKeys(ns);
      const rk = k.run(runId);
      expect(await raw.hget(rk.meta, 'state')).toBe('succeeded');
      await expectNoPerm(raw.hset(rk.meta, 'state', 'failed'));
      await expectNoPerm(raw.xadd(rk.events, '*', 'forged', '1'));
      await expectNoPerm(raw.del(rk.events));
      await expectNoPerm(raw.get(lockKeys(ns).resource('db/main')));
      await expectNoPerm(raw.set(lockKeys(ns).resource('db/main'), 'mine'));
      await expectNoPerm(raw.hset(`${k.bullPrefix}:default:${runId}-a`, 'data', '{}'));
      await expectNoPerm(raw.hgetall(`${k.bullPrefix}:default:meta`));
      await expectNoPerm(raw.lrange(`${k.bullPrefix}:default:wait`, 0, -1));
      await expectNoPerm(raw.hgetall(k.runners));
      await expectNoPerm(raw.get(k.leader));
      await expectNoPerm(raw.publish(k.cancelChannel, runId));
      await expectNoPerm(raw.scan('0'));
      await expectNoPerm(raw.flushall());
      // Nor can it cancel: that writes the run record.
      await expect(client.cancel(runId)).rejects.toThrow(/NOPERM/);

      // Every refusal was the submitter's: the scheduler, runner and dashboard never needed more than
      // their users give (a refused command there could be retried or logged and go unseen).
      const admin = createRedis(`rediss://admin:${adminPassword}@127.0.0.1:${server.port}`);
      try {
        const log = (await admin.call('ACL', 'LOG', '128')) as unknown[][];
        const users = log.map((entry) => {
          const i = entry.indexOf('username');
          return String(entry[i + 1]);
        });
        expect(users.length).toBeGreaterThan(0);
        expect(new Set(users)).toEqual(new Set(['submitter']));
      } finally {
        admin.disconnect();
      }
    } finally {
      await client.close();
      raw.disconnect();
      await dashboard?.close();
      await runner?.close({ graceMs: 2000 });
      await scheduler?.close();
    }
  }, 60_000);

  it('the services may not run @dangerous commands; the dashboard reads runs with its own user', async () => {
    for (const role of ['scheduler', 'runner', 'dashboard'] as const) {
      const r = createRedis(url(role));
      try {
        expect(await r.ping()).toBe('PONG');
        await r.set(`${ns}:probe:${role}`, '1');
        await expectNoPerm(r.flushall());
        await expectNoPerm(r.config('SET', 'appendonly', 'no'));
        await expectNoPerm(r.keys('*'));
        await expectNoPerm(r.get('another-namespace:key'));
      } finally {
        r.disconnect();
      }
    }
    const dash = new AgoraClient({ redisUrl: url('dashboard'), namespace: ns });
    try {
      await expect(dash.status('run-not-there')).rejects.toThrow(/no run/);
    } finally {
      await dash.close();
    }
  }, 20_000);
});
