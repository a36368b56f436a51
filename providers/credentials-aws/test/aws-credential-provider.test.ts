import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AwsCredentialProvider, NoAwsCredentialsError } from '@agora/credentials-aws';

/**
 * The AWS default chain, link by link, against what this machine can offer for real: the
 * environment, shared ini files in a HOME of the test's own, and local HTTP servers standing in
 * for the ECS container endpoint and IMDS (the SDK's own readers talk to them). No call leaves
 * the machine: IMDS is disabled or pointed at 127.0.0.1 in every test.
 */
const AWS_VARS = Object.keys(process.env).filter((k) => k.startsWith('AWS_'));
const saved: Record<string, string | undefined> = {};
let home: string;
const servers: Server[] = [];

beforeEach(() => {
  for (const k of [...AWS_VARS, 'HOME']) saved[k] = process.env[k];
  for (const k of AWS_VARS) delete process.env[k];
  home = mkdtempSync(path.join(os.tmpdir(), 'agora-aws-home-'));
  process.env['HOME'] = home;
  process.env['AWS_EC2_METADATA_DISABLED'] = 'true';
});
afterEach(() => {
  for (const k of Object.keys(process.env)) if (k.startsWith('AWS_')) delete process.env[k];
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  rmSync(home, { recursive: true, force: true });
});
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const expiration = new Date(Date.now() + 3600_000).toISOString().replace(/\.\d+Z$/, 'Z');

describe('the aws credential provider', () => {
  it('answers from the env link: aws-sts with key, secret, session token and expiry; health names the env link', async () => {
    process.env['AWS_ACCESS_KEY_ID'] = 'AKIAENVLINKEXAMPLE';
    process.env['AWS_SECRET_ACCESS_KEY'] = 'env-link-secret-access-key';
    process.env['AWS_SESSION_TOKEN'] = 'env-link-session-token';
    process.env['AWS_CREDENTIAL_EXPIRATION'] = expiration;
    const p = new AwsCredentialProvider();
    expect(await p.resolve()).toEqual({
      kind: 'aws-sts',
      accessKeyId: 'AKIAENVLINKEXAMPLE',
      secretAccessKey: 'env-link-secret-access-key',
      sessionToken: 'env-link-session-token',
      expiration: new Date(expiration).toISOString(),
      source: 'env',
    });
    const h = await p.health();
    expect(h).toMatchObject({ ok: true, message: `aws credentials: answered by the env link, expiring ${new Date(expiration).toISOString()}` });
    expect(JSON.stringify(h)).not.toMatch(/env-link-secret-access-key|env-link-session-token/);
  });

  it('with nothing configured, health fails listing every link tried and what each lacked', async () => {
    const p = new AwsCredentialProvider();
    const h = await p.health();
    expect(h.ok).toBe(false);
    expect(h.message).toMatch(/^aws credentials: no AWS credentials found; tried: /);
    expect(h.message).toContain('env (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set)');
    expect(h.message).toMatch(/shared ini profile \([^)]*default[^)]*\)/);
    expect(h.message).toContain('web identity (AWS_WEB_IDENTITY_TOKEN_FILE is not set)');
    expect(h.message).toContain('ECS container (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and AWS_CONTAINER_CREDENTIALS_FULL_URI are not set)');
    expect(h.message).toContain('IMDS (disabled by AWS_EC2_METADATA_DISABLED)');
    expect((h.details?.['tried'] as Array<{ link: string }>).map((t) => t.link)).toEqual(['env', 'shared-ini', 'web-identity', 'ecs-container', 'imds']);
    const err = await p.resolve().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoAwsCredentialsError);
    expect((err as NoAwsCredentialsError).retryable).toBe(false);
  });

  it('names the half-set pair: a key id without its secret', async () => {
    process.env['AWS_ACCESS_KEY_ID'] = 'AKIAHALFSET';
    expect((await new AwsCredentialProvider().health()).message).toContain('env (AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not)');
  });

  it('answers from the shared ini profile (HOME/.aws/credentials), and AWS_PROFILE makes the chain skip env', async () => {
    mkdirSync(path.join(home, '.aws'));
    writeFileSync(path.join(home, '.aws', 'credentials'), '[default]\naws_access_key_id = AKIAINIDEFAULT\naws_secret_access_key = ini-default-secret\n\n[ops]\naws_access_key_id = AKIAINIOPS\naws_secret_access_key = ini-ops-secret\n');
    const def = new AwsCredentialProvider();
    expect(await def.health()).toMatchObject({ ok: true, message: 'aws credentials: answered by the shared ini profile "default" link' });
    expect(await def.resolve()).toMatchObject({ kind: 'aws-sts', accessKeyId: 'AKIAINIDEFAULT', source: 'shared-ini' });
    process.env['AWS_PROFILE'] = 'ops';
    process.env['AWS_ACCESS_KEY_ID'] = 'AKIAENVIGNORED';
    process.env['AWS_SECRET_ACCESS_KEY'] = 'env-ignored-secret';
    const ops = new AwsCredentialProvider();
    const h = await ops.health();
    expect(h.message).toBe('aws credentials: answered by the shared ini profile "ops" link');
    expect(h.details?.['tried']).toEqual([{ link: 'env', reason: 'skipped: profile "ops" is set' }]);
    expect(await new AwsCredentialProvider({ profile: 'default' }).resolve()).toMatchObject({ accessKeyId: 'AKIAINIDEFAULT' });
  });

  it('answers from the ECS container endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI on loopback)', async () => {
    const url = await serve((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ AccessKeyId: 'ASIAECSCONTAINER', SecretAccessKey: 'ecs-secret', Token: 'ecs-token', Expiration: expiration }));
    });
    process.env['AWS_CONTAINER_CREDENTIALS_FULL_URI'] = `${url}/v2/credentials/role`;
    const p = new AwsCredentialProvider();
    expect(await p.resolve()).toMatchObject({ kind: 'aws-sts', accessKeyId: 'ASIAECSCONTAINER', sessionToken: 'ecs-token', source: 'ecs-container' });
    expect((await p.health()).message).toBe(`aws credentials: answered by the ECS container link, expiring ${new Date(expiration).toISOString()}`);
  });

  it('answers from IMDS (IMDSv2 token, role, credentials), and a silent IMDS fails within linkTimeoutMs instead of hanging', async () => {
    const imds = await serve((req, res) => {
      if (req.method === 'PUT' && req.url === '/latest/api/token') return void res.end('imds-session-token');
      if (req.headers['x-aws-ec2-metadata-token'] !== 'imds-session-token') return void res.writeHead(401).end();
      if (req.url === '/latest/meta-data/iam/security-credentials/') return void res.end('runner-role');
      if (req.url === '/latest/meta-data/iam/security-credentials/runner-role') {
        return void res.end(JSON.stringify({ Code: 'Success', Type: 'AWS-HMAC', AccessKeyId: 'ASIAIMDS', SecretAccessKey: 'imds-secret', Token: 'imds-token', Expiration: expiration }));
      }
      res.writeHead(404).end();
    });
    delete process.env['AWS_EC2_METADATA_DISABLED'];
    process.env['AWS_EC2_METADATA_SERVICE_ENDPOINT'] = imds;
    const p = new AwsCredentialProvider();
    expect(await p.resolve()).toMatchObject({ kind: 'aws-sts', accessKeyId: 'ASIAIMDS', source: 'imds' });
    expect((await p.health()).message).toMatch(/^aws credentials: answered by the IMDS link, expiring /);

    // An address that accepts and never answers: the link gives up after linkTimeoutMs.
    const silent = await serve(() => undefined);
    process.env['AWS_EC2_METADATA_SERVICE_ENDPOINT'] = silent;
    const h = await new AwsCredentialProvider({ linkTimeoutMs: 300 }).health();
    expect(h.ok).toBe(false);
    expect(h.message).toMatch(/IMDS \([^)]+\)$/);
    const err = await new AwsCredentialProvider({ linkTimeoutMs: 300 }).resolve().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoAwsCredentialsError);
  });

  it('refuses malformed options', () => {
    expect(() => new AwsCredentialProvider({ linkTimeoutMs: 5 })).toThrow(/^aws credentials: options\.linkTimeoutMs: /);
    expect(() => new AwsCredentialProvider({ region: 'us-east-1' })).toThrow(/^aws credentials: /);
  });
});
