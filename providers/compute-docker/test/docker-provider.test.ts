import { createHash, randomBytes } from 'node:crypto';
import Docker from 'dockerode';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OUTPUT_CAP_BYTES, ProviderError, ValueError, createLogger, truncationMarker, type ProviderContext, type TaskSpec } from '@agora/core';
import { DockerComputeProvider, MANAGED_LABEL } from '@agora/compute-docker';
import { ensurePodman, type PodmanEnv } from '../../../test/support/podman.js';

let env: PodmanEnv;
let docker: Docker;
let provider: DockerComputeProvider;
let testLabel = '';

beforeAll(async () => {
  env = await ensurePodman();
  docker = new Docker({ socketPath: env.socketPath });
  // network "none": the tests need no network, and creating one per container costs time.
  provider = new DockerComputeProvider({ socketPath: env.socketPath, network: 'none', stopGraceMs: 1000 });
}, 10 * 60_000);

/** Containers of the current test, found by the per-test label (running or not). */
async function testContainers(): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`${MANAGED_LABEL}=true`, `agora.test=${testLabel}`] } });
}

afterEach(async () => {
  if (!testLabel) return;
  // Every path must remove its container; a leak fails the test that caused it (and only it).
  const leaked = await testContainers();
  testLabel = '';
  for (const c of leaked) await docker.getContainer(c.Id).remove({ force: true });
  expect(leaked.map((c) => `${c.Id} ${c.State}`)).toEqual([]);
});

function spec(extra: Partial<TaskSpec> & { command: string[] }): TaskSpec {
  testLabel ||= randomBytes(6).toString('hex');
  return { image: env.images.busybox, ...extra, labels: { ...extra.labels, 'agora.test': testLabel } };
}

/** The exit with stdout decoded (stdout is bytes; these workers print text). */
async function runToExit(s: TaskSpec, ctx: ProviderContext = {}, p: DockerComputeProvider = provider) {
  const handle = await p.run(s, ctx);
  const exit = await p.awaitExit(handle, ctx);
  return { ...exit, stdout: Buffer.from(exit.stdout).toString('utf8') };
}

/** Polls until the engine reports the container running (no fixed sleeps). */
async function untilRunning(id: string): Promise<Docker.ContainerInspectInfo> {
  for (;;) {
    const info = await docker.getContainer(id).inspect();
    if (info.State.Running) return info;
    if (info.State.Status === 'exited') throw new Error(`container ${id} exited early`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function gone(id: string): Promise<boolean> {
  return docker
    .getContainer(id)
    .inspect()
    .then(
      () => false,
      (err: { statusCode?: number }) => err.statusCode === 404,
    );
}

/** What only this provider does; the contract every compute/storage provider meets is test/conformance.test.ts. */
describe('DockerComputeProvider against Podman', () => {
  it('caps each stream at 10 MiB with the visible marker, and keeps the other stream', async () => {
    const extra = 1024 * 1024 + 123;
    const script = `const b = Buffer.alloc(65536, 120); let left = ${OUTPUT_CAP_BYTES + extra}; while (left > 0) { const n = Math.min(left, b.length); process.stdout.write(b.subarray(0, n)); left -= n; } process.stderr.write("small");`;
    const exit = await runToExit({ ...spec({ command: ['node', '-e', script] }), image: env.images.node });
    expect(exit.exitCode).toBe(0);
    expect(exit.stdout.length).toBe(OUTPUT_CAP_BYTES + truncationMarker(extra).length);
    expect(exit.stdout.endsWith(truncationMarker(extra))).toBe(true);
    expect(exit.stdout.slice(0, OUTPUT_CAP_BYTES)).toBe('x'.repeat(OUTPUT_CAP_BYTES));
    expect(exit.stderr).toBe('small');
  });

  it('reports a missing image as an infrastructure failure, never an exit code', async () => {
    const missing = env.images.busybox.replace(/@sha256:.*/, `@sha256:${'0'.repeat(64)}`);
    const s = { ...spec({ command: ['true'] }), image: missing };
    const handle = await provider.run(s, {});
    const exit = await provider.awaitExit(handle, {});
    expect(exit.exitCode).toBeNull();
    expect(exit.providerFailureReason).toContain(`image ${missing} is not present on the engine`);
    expect(exit.providerFailureReason).toContain('does not pull');
  });

  it('reports an engine that does not answer as an infrastructure failure', async () => {
    const dead = new DockerComputeProvider({ socketPath: '/tmp/agora-no-such-dir/docker.sock' });
    const exit = await runToExit(spec({ command: ['true'] }), {}, dead);
    expect(exit.exitCode).toBeNull();
    expect(exit.providerFailureReason).toMatch(/^container could not be created from image .* on unix:\/\/\/tmp\/agora-no-such-dir\/docker.sock: .*ENOENT/);
  });

  it('reports a container that cannot start as an infrastructure failure and removes it', async () => {
    const handle = await provider.run(spec({ command: ['/no/such/worker'] }), {});
    const exit = await provider.awaitExit(handle, {});
    expect(exit.exitCode).toBeNull();
    expect(exit.providerFailureReason).toMatch(/^container could not be started from image .*\/no\/such\/worker/);
    expect(await gone(handle.providerTaskId)).toBe(true);
  });

  it('cancels a long sleep: awaitExit reports cancelled, the container is gone, cancel is idempotent', async () => {
    const handle = await provider.run(spec({ command: ['sleep', '600'] }), {});
    await untilRunning(handle.providerTaskId);
    const exiting = provider.awaitExit(handle, {});
    await provider.cancel(handle, {});
    const exit = await exiting;
    expect(exit.cancelled).toBe(true);
    expect(exit.exitCode).toBeNull();
    expect(exit.providerFailureReason).toBeUndefined();
    expect(exit.stderr).toContain('[agora: worker stopped: cancelled]');
    expect(await gone(handle.providerTaskId)).toBe(true);
    await provider.cancel(handle, {});
  });

  it('creates nothing when ctx.signal is already aborted', async () => {
    const ac = new AbortController();
    ac.abort();
    const handle = await provider.run(spec({ command: ['sleep', '600'] }), { signal: ac.signal });
    expect(await provider.awaitExit(handle, { signal: ac.signal })).toMatchObject({ exitCode: null, cancelled: true });
  });

  it('cancel without a pending awaitExit stops and removes the container', async () => {
    const handle = await provider.run(spec({ command: ['sleep', '600'] }), {});
    await untilRunning(handle.providerTaskId);
    await provider.cancel(handle, {});
    expect(await gone(handle.providerTaskId)).toBe(true);
  });

  it('stops a worker that outlives spec.timeoutMs and keeps what it printed', async () => {
    const exit = await runToExit(spec({ command: ['sh', '-c', 'echo started; exec sleep 600'], timeoutMs: 1500 }));
    expect(exit).toMatchObject({ exitCode: null, cancelled: true, stdout: 'started\n' });
    expect(exit.stderr).toContain('[agora: worker stopped: timeout after 1500 ms]');
  });

  it('refuses an unpinned image with a ValueError that says how to pin; allowUnpinnedImage accepts it', async () => {
    const unpinned = env.images.busybox.replace(/@sha256:.*/, ':latest');
    const s = { ...spec({ command: ['echo', 'ok'] }), image: unpinned };
    const err = await provider.run(s, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValueError);
    expect((err as Error).message).toContain(`image "${unpinned}" is not digest-pinned`);
    expect((err as Error).message).toContain('allowUnpinnedImage');
    const dev = new DockerComputeProvider({ socketPath: env.socketPath, network: 'none', allowUnpinnedImage: true });
    const exit = await runToExit(s, {}, dev);
    expect(exit).toMatchObject({ exitCode: 0, stdout: 'ok\n' });
  });

  it('resolves secretRefs into the container env without writing them to any log line', async () => {
    const secret = `s3cr3t-${randomBytes(8).toString('hex')}`;
    const lines: string[] = [];
    const logger = createLogger({}, 'debug', (l) => lines.push(l));
    const ctx: ProviderContext = { credentials: { kind: 'static-secrets', secrets: { 'vault:api-key': secret } }, logger };
    // The worker proves it got the value by printing its hash, never the value.
    const exit = await runToExit(spec({ command: ['sh', '-c', 'printf %s "$API_KEY" | sha256sum'], secretRefs: { API_KEY: 'vault:api-key' } }), ctx);
    expect(exit.exitCode).toBe(0);
    expect(exit.stdout.split(' ')[0]).toBe(createHash('sha256').update(secret).digest('hex'));
    expect(lines.some((l) => l.includes('container started') && l.includes('API_KEY'))).toBe(true);
    expect(lines.join('\n')).not.toContain(secret);
  });

  it('refuses an unresolvable secret ref with a ProviderError naming the ref, not any value', async () => {
    const ctx: ProviderContext = { credentials: { kind: 'static-secrets', secrets: { other: 'value-that-must-not-leak' } } };
    const err = await provider.run(spec({ command: ['true'], secretRefs: { DB_PASSWORD: 'vault:db' } }), ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as Error).message).toBe('secret ref "vault:db" (for DB_PASSWORD) cannot be resolved by the "static-secrets" credentials');
    expect((err as Error).message).not.toContain('value-that-must-not-leak');
    const noCreds = await provider.run(spec({ command: ['true'], secretRefs: { DB_PASSWORD: 'vault:db' } }), {}).catch((e: unknown) => e);
    expect(noCreds).toBeInstanceOf(ProviderError);
    expect((noCreds as Error).message).toContain('DB_PASSWORD (ref "vault:db")');
  });

  it('labels the container, maps resources and sets the ulimits', async () => {
    const handle = await provider.run(spec({ command: ['sleep', '600'], labels: { 'agora.run': 'r1', 'agora.item': 'i1' }, resources: { cpu: 0.5, memoryMb: 64 } }), {});
    try {
      const info = await untilRunning(handle.providerTaskId);
      expect(info.Config.Labels).toMatchObject({ 'agora.run': 'r1', 'agora.item': 'i1', [MANAGED_LABEL]: 'true', 'agora.test': testLabel });
      expect(info.HostConfig.NanoCpus).toBe(500_000_000);
      expect(info.HostConfig.Memory).toBe(64 * 1024 * 1024);
      expect(info.HostConfig.Ulimits).toEqual(
        expect.arrayContaining([expect.objectContaining({ Name: expect.stringMatching(/nofile/i), Soft: 1024, Hard: 1024 })]),
      );
    } finally {
      await provider.cancel(handle, {});
    }
  });

  it('health names the socket and what to do when the engine does not answer', async () => {
    expect(await provider.health()).toMatchObject({ ok: true });
    const bad = new DockerComputeProvider({ socketPath: '/tmp/agora-no-such-dir/docker.sock' });
    const h = await bad.health();
    expect(h.ok).toBe(false);
    expect(h.message).toContain('unix:///tmp/agora-no-such-dir/docker.sock');
    expect(h.message).toContain('scripts/podman-setup.sh');
  });
});
