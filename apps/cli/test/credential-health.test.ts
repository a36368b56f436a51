import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, cliEnv, type CliEnv } from '../../../test/support/cli.js';
import { metricsUrlFrom } from '../../../test/support/prometheus.js';

/**
 * What `agora doctor` and a runner's `/readyz` say about the credential providers, from a real
 * CLI process: each provider's own health message, naming the missing piece (a file's mode, the
 * AWS chain's links), and a provider loaded from a package in the project's node_modules.
 */
const envs: CliEnv[] = [];
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const e of envs) await e.close();
});

function isolateAws(env: CliEnv): void {
  for (const k of Object.keys(env.env)) if (k.startsWith('AWS_')) delete env.env[k];
  // A HOME with no ~/.aws, and no IMDS: nothing answers, and nothing waits on the network.
  const home = path.join(env.dir, 'home');
  mkdirSync(home, { recursive: true });
  env.env['HOME'] = home;
  env.env['AWS_EC2_METADATA_DISABLED'] = 'true';
}

describe('credential providers in agora doctor and /readyz', () => {
  it('doctor prints each credential provider’s health: static, file (bad mode), aws (links tried), a package', () => {
    const env = cliEnv({
      credentials: {
        dev: { provider: 'static', options: { values: { API_KEY: 'doctor-static-value' } } },
        files: { provider: 'file', options: { path: 'secrets.env' } },
        cloud: { provider: 'aws', options: { linkTimeoutMs: 500 } },
        vault: { provider: 'package:agora-demo-vault', options: {} },
      },
    });
    envs.push(env);
    isolateAws(env);
    writeFileSync(path.join(env.dir, 'secrets.env'), 'API_KEY=doctor-file-value\n');
    chmodSync(path.join(env.dir, 'secrets.env'), 0o644);
    const pkg = path.join(env.dir, 'node_modules', 'agora-demo-vault');
    mkdirSync(pkg, { recursive: true });
    writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'agora-demo-vault', type: 'module', main: 'index.js' }));
    writeFileSync(
      path.join(pkg, 'index.js'),
      "export function createProvider() { return { name: 'demo-vault', async resolve() { return { kind: 'none' }; }, async health() { return { ok: true, message: 'demo vault reachable' }; } }; }",
    );

    const r = env.agora(['doctor', '--json']);
    expect(r.code).toBe(1);
    const checks = (JSON.parse(r.stdout) as { checks: Array<{ kind: string; name: string; provider: string; ok: boolean; message: string }> }).checks;
    const by = (name: string) => checks.find((c) => c.name === name);
    expect(by('dev')).toMatchObject({ kind: 'credentials', provider: 'static', ok: true, message: 'static credentials: 1 value(s) (clear text in the config file: development only)' });
    expect(by('files')).toMatchObject({ kind: 'credentials', provider: 'file', ok: false, message: expect.stringContaining('secrets.env has mode 0644, which gives group or others access; run chmod 600') });
    expect(by('cloud')).toMatchObject({ kind: 'credentials', provider: 'aws', ok: false });
    expect(by('cloud')?.message).toMatch(/^aws credentials: no AWS credentials found; tried: env \(AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set\); shared ini profile \(.*\); web identity \(.*\); ECS container \(.*\); IMDS \(disabled by AWS_EC2_METADATA_DISABLED\)$/);
    expect(by('vault')).toMatchObject({ kind: 'credentials', provider: 'package:agora-demo-vault', ok: true, message: 'demo vault reachable' });
    expect(r.stdout + r.stderr).not.toMatch(/doctor-static-value|doctor-file-value/);
  }, 60_000);

  it('a runner’s /readyz is 503 naming the credentials provider whose file is open to others', async () => {
    const env = cliEnv({ credentials: { files: { provider: 'file', options: { path: 'secrets.json' } } } });
    envs.push(env);
    writeFileSync(path.join(env.dir, 'secrets.json'), '{"A":"readyz-file-value"}');
    chmodSync(path.join(env.dir, 'secrets.json'), 0o640);
    const child = spawn(process.execPath, [BIN, 'runner', '--concurrency', '1', '--metrics-port', '0'], { cwd: env.dir, env: env.env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    const url = await new Promise<string>((resolve, reject) => {
      let seen = '';
      const onData = (d: Buffer): void => {
        seen += d.toString();
        const u = metricsUrlFrom(seen);
        if (u && /runner started/.test(seen)) resolve(u);
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code) => reject(new Error(`runner exited with ${code}: ${seen}`)));
    });
    const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(10_000) });
    const body = (await res.json()) as { ok: boolean; error?: string };
    expect(res.status).toBe(503);
    expect(body.error).toContain(`credentials provider "files" (file) is unhealthy: file credentials: ${path.join(env.dir, 'secrets.json')} has mode 0640`);
    child.kill('SIGKILL');
  }, 60_000);
});
