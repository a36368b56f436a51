import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LIST_NAMES_MAX_LIMIT,
  NotFoundError,
  OUTPUT_CAP_BYTES,
  StorageError,
  ValueError,
  allNames,
  truncationMarker,
  type StorageProvider,
} from '@agora/core';
import { checkUnsupported, declarationTitle, type CaseInfo } from './declared-cases.js';

/** The storage contract, case by case (see `COMPUTE_CASES` for how declarations work). */
export const STORAGE_CASES = {
  'round-trip': { required: true, proves: 'put returns the pinned URI; get gives back the exact bytes (empty and binary too)' },
  'content-hash': { required: true, proves: 'the content hash is the sha256 of the bytes, lowercase hex' },
  pinned: { required: true, proves: 'a pinned URI always resolves to its own bytes, whatever is registered later; a put pinned to other bytes is a ValueError' },
  'resolve-latest': { required: true, proves: 'resolveLatest and an unpinned get follow the newest registration of a name; null for an unknown name' },
  list: { required: true, proves: 'list gives every registration of a name in order, with pinned URIs and ISO registration times' },
  'list-names': { required: true, proves: 'listNames: unique names, sorted by code unit, filtered by prefix, paged by limit/startAfter, bad queries refused' },
  'resolve-by-hash': { required: true, proves: 'resolveByHash finds the newest name holding a hash; null when none does' },
  missing: { required: true, proves: 'reading what was never stored is a NotFoundError' },
  'bad-uri': { required: true, proves: 'URIs that could escape the store (traversal, extra segments, bad hashes) are a ValueError' },
  integrity: { required: false, proves: 'bytes changed behind the provider\'s back are detected on read (StorageError), never served' },
  'defer-index': { required: true, proves: 'a deferIndex put is readable by its pinned URI at once and by name after flush(), from another instance too' },
  'concurrent-puts': { required: true, proves: 'puts at once (same name and different names) lose no registration and no bytes' },
  'large-object': { required: true, proves: 'the largest object a runner stores (a capped output and its marker) round-trips exactly' },
  health: { required: true, proves: 'health() answers ok with a message naming what was checked' },
} as const satisfies Record<string, CaseInfo>;
export type StorageCase = keyof typeof STORAGE_CASES;

/** What the `large-object` case stores: a worker output at the cap plus the truncation marker. */
export const LARGE_OBJECT_BYTES = OUTPUT_CAP_BYTES + Buffer.byteLength(truncationMarker(Number.MAX_SAFE_INTEGER));

/** What a storage provider's test gives the suite. Every case uses its own namespace. */
export interface StorageHarness {
  readonly provider: StorageProvider;
  /** Another instance over the same store (another runner's view). @default none: checked on `provider` only */
  peer?(): StorageProvider | Promise<StorageProvider>;
  /** Replaces the stored bytes of a blob behind the provider's back. Needed by `integrity`. */
  corruptBlob?(at: { readonly namespace: string; readonly type: string; readonly contentHash: string }, bytes: Uint8Array): Promise<void>;
  close?(): Promise<void>;
}

export interface StorageConformanceOptions {
  readonly unsupported?: Readonly<Partial<Record<StorageCase, string>>>;
}

const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');
const bytesOf = (s: string): Buffer => Buffer.from(s, 'utf8');

/**
 * Registers the storage conformance suite for one provider (call it at the top level of a
 * vitest file). `setup` runs once, before the cases.
 */
export function describeStorageConformance(name: string, setup: () => Promise<StorageHarness>, opts: StorageConformanceOptions = {}): void {
  const unsupported = checkUnsupported('storage', STORAGE_CASES, opts.unsupported ?? {});
  const all = Object.keys(STORAGE_CASES) as StorageCase[];

  describe(`storage conformance: ${name}`, () => {
    let h: StorageHarness | undefined;
    const harness = (): StorageHarness => {
      if (!h) throw new Error('the conformance harness was not set up (see the beforeAll error)');
      return h;
    };
    const store = (): StorageProvider => harness().provider;
    beforeAll(async () => {
      h = await setup();
    }, 5 * 60_000);
    afterAll(async () => {
      await h?.close?.();
    });

    /** A namespace no other case (or earlier run against the same store) uses. */
    const fresh = (): string => `conf${randomBytes(6).toString('hex')}`;
    const when = (c: StorageCase, fn: () => Promise<void>, timeoutMs?: number): void => {
      if (unsupported.has(c)) return;
      it(`${c}: ${STORAGE_CASES[c].proves}`, fn, timeoutMs);
    };
    const read = async (uri: string): Promise<Buffer> => Buffer.from(await store().get(uri));

    it(declarationTitle(unsupported, all.length), () => {
      const missing: string[] = [];
      if (!unsupported.has('integrity') && !harness().corruptBlob) missing.push('integrity needs corruptBlob()');
      if (!store().health) missing.push('health needs provider.health');
      expect(missing).toEqual([]);
    });

    when('round-trip', async () => {
      const ns = fresh();
      const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      for (const bytes of [bytesOf('patch-1\n'), binary, Buffer.alloc(0)]) {
        const put = await store().put(`agora://${ns}/result/r1.a`, bytes);
        expect(put).toEqual({ contentHash: sha256(bytes), uri: `agora://${ns}/result/r1.a/${sha256(bytes)}` });
        expect((await read(put.uri)).equals(bytes)).toBe(true);
      }
    });

    when('content-hash', async () => {
      const ns = fresh();
      // Golden vectors: sha256 of "" and of "abc" (FIPS 180-2, appendix B.1).
      expect((await store().put(`agora://${ns}/blob/empty`, Buffer.alloc(0))).contentHash).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
      expect((await store().put(`agora://${ns}/blob/abc`, bytesOf('abc'))).contentHash).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
      // The same bytes under another name share the address.
      expect((await store().put(`agora://${ns}/blob/abc-again`, bytesOf('abc'))).contentHash).toBe(sha256('abc'));
    });

    when('pinned', async () => {
      const ns = fresh();
      const v1 = await store().put(`agora://${ns}/task/edit`, bytesOf('v1'));
      await store().put(`agora://${ns}/task/edit`, bytesOf('v2'));
      expect((await read(v1.uri)).toString()).toBe('v1');
      // A put naming the hash of its own bytes is accepted and lands at that same URI.
      expect(await store().put(v1.uri, bytesOf('v1'))).toEqual(v1);
      const wrong = await store().put(`agora://${ns}/task/edit/${sha256('other')}`, bytesOf('v3')).catch((e: unknown) => e);
      expect(wrong).toBeInstanceOf(ValueError);
      expect((await read(v1.uri)).toString()).toBe('v1');
    });

    when('resolve-latest', async () => {
      const ns = fresh();
      expect(await store().resolveLatest(`agora://${ns}/task/edit`)).toBeNull();
      await store().put(`agora://${ns}/task/edit`, bytesOf('v1'));
      const v2 = await store().put(`agora://${ns}/task/edit`, bytesOf('v2'));
      const latest = await store().resolveLatest(`agora://${ns}/task/edit`);
      expect(latest).toMatchObject({ uri: v2.uri, contentHash: sha256('v2') });
      expect((await read(`agora://${ns}/task/edit`)).toString()).toBe('v2');
      // Registering older bytes again makes them the latest: latest is by registration, not by content.
      await store().put(`agora://${ns}/task/edit`, bytesOf('v1'));
      expect((await store().resolveLatest(`agora://${ns}/task/edit`))?.contentHash).toBe(sha256('v1'));
    });

    when('list', async () => {
      const ns = fresh();
      expect(await store().list(`agora://${ns}/task/edit`)).toEqual([]);
      for (const v of ['v1', 'v2', 'v3']) await store().put(`agora://${ns}/task/edit`, bytesOf(v));
      await store().put(`agora://${ns}/task/other`, bytesOf('x'));
      const list = await store().list(`agora://${ns}/task/edit`);
      expect(list.map((e) => [e.uri, e.contentHash])).toEqual(['v1', 'v2', 'v3'].map((v) => [`agora://${ns}/task/edit/${sha256(v)}`, sha256(v)]));
      const times = list.map((e) => Date.parse(e.registeredAt));
      for (const [i, t] of times.entries()) {
        expect(new Date(t).toISOString()).toBe(list[i]!.registeredAt);
        if (i > 0) expect(t).toBeGreaterThanOrEqual(times[i - 1]!);
      }
    });

    when('list-names', async () => {
      const ns = fresh();
      const s = store();
      // "a" is a prefix of "a-b" and "a.c": stores that list keys as "<name>/" order these
      // differently from the names themselves ('-' and '.' sort before '/').
      for (const n of ['b', 'a.c', 'a', 'ab', 'a-b', 'a']) await s.put(`agora://${ns}/task/${n}`, bytesOf(`def of ${n}`));
      await s.put(`agora://${ns}/result/a-result`, bytesOf('other type'));
      await s.put(`agora://${fresh()}/task/a-elsewhere`, bytesOf('other namespace'));
      const q = { namespace: ns, type: 'task' };
      expect(await s.listNames(q)).toEqual(['a', 'a-b', 'a.c', 'ab', 'b']);
      expect(await s.listNames({ ...q, prefix: '' })).toEqual(['a', 'a-b', 'a.c', 'ab', 'b']);
      expect(await s.listNames({ ...q, prefix: 'a' })).toEqual(['a', 'a-b', 'a.c', 'ab']);
      expect(await s.listNames({ ...q, prefix: 'a-' })).toEqual(['a-b']);
      expect(await s.listNames({ ...q, prefix: 'zz' })).toEqual([]);
      expect(await s.listNames({ namespace: ns, type: 'nothing-here' })).toEqual([]);
      expect(await s.listNames({ ...q, limit: 2 })).toEqual(['a', 'a-b']);
      expect(await s.listNames({ ...q, limit: 2, startAfter: 'a-b' })).toEqual(['a.c', 'ab']);
      expect(await s.listNames({ ...q, startAfter: 'ab' })).toEqual(['b']);
      expect(await s.listNames({ ...q, prefix: 'a', startAfter: 'a' })).toEqual(['a-b', 'a.c', 'ab']);
      expect(await s.listNames({ ...q, startAfter: 'b' })).toEqual([]);
      const paged: string[] = [];
      for await (const n of allNames(s, { ...q, limit: 2 })) paged.push(n);
      expect(paged).toEqual(['a', 'a-b', 'a.c', 'ab', 'b']);
      const bad = [
        { ...q, prefix: '../' },
        { ...q, prefix: 'a/b' },
        { ...q, prefix: 'a..b' },
        { ...q, prefix: 'x'.repeat(201) },
        { ...q, limit: 0 },
        { ...q, limit: LIST_NAMES_MAX_LIMIT + 1 },
        { ...q, limit: 1.5 },
        { ...q, startAfter: '../x' },
        { namespace: '..', type: 'task' },
        { namespace: ns, type: 'a/b' },
      ];
      for (const b of bad) await expect(s.listNames(b), JSON.stringify(b)).rejects.toThrow(ValueError);
    });

    when('resolve-by-hash', async () => {
      const ns = fresh();
      await store().put(`agora://${ns}/task/alpha`, bytesOf('shared'));
      await store().put(`agora://${ns}/task/beta`, bytesOf('shared'));
      const found = await store().resolveByHash({ namespace: ns, type: 'task', contentHash: sha256('shared') });
      expect(found).toMatchObject({ name: 'beta', uri: `agora://${ns}/task/beta/${sha256('shared')}`, contentHash: sha256('shared') });
      expect(Number.isNaN(Date.parse(found!.registeredAt))).toBe(false);
      expect(await store().resolveByHash({ namespace: ns, type: 'task', contentHash: sha256('never stored') })).toBeNull();
      expect(await store().resolveByHash({ namespace: ns, type: 'result', contentHash: sha256('shared') })).toBeNull();
      await expect(store().resolveByHash({ namespace: ns, type: 'task', contentHash: 'not-a-hash' })).rejects.toThrow(ValueError);
    });

    when('missing', async () => {
      const ns = fresh();
      const errs = [
        await store().get(`agora://${ns}/result/none/${sha256('none')}`).catch((e: unknown) => e),
        await store().get(`agora://${ns}/result/none`).catch((e: unknown) => e),
      ];
      for (const e of errs) expect(e).toBeInstanceOf(NotFoundError);
      // A hash stored under one name is not readable through another type.
      const put = await store().put(`agora://${ns}/result/here`, bytesOf('here'));
      await expect(store().get(`agora://${ns}/task/here/${put.contentHash}`)).rejects.toThrow(NotFoundError);
    });

    when('bad-uri', async () => {
      const ns = fresh();
      const bad = [
        `agora://${ns}/../etc/passwd`,
        `agora://${ns}/result/..`,
        'agora://../x/y',
        'file:///etc/passwd',
        `agora://${ns}/result/a/b/c`,
        `agora://${ns}/.hidden/x`,
        `agora://${ns}/result/a b`,
        `agora://${ns}/result/x/${'A'.repeat(64)}`,
        `agora://${ns}/result/x/${'0'.repeat(63)}`,
      ];
      for (const uri of bad) {
        await expect(store().put(uri, bytesOf('x')), uri).rejects.toThrow(ValueError);
        await expect(store().get(uri), uri).rejects.toThrow(ValueError);
      }
    });

    when('integrity', async () => {
      const ns = fresh();
      const put = await store().put(`agora://${ns}/result/fragile`, bytesOf('original bytes'));
      await harness().corruptBlob!({ namespace: ns, type: 'result', contentHash: put.contentHash }, bytesOf('tampered bytes'));
      const err = await store().get(put.uri).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StorageError);
      expect((err as Error).message).toMatch(/corrupt/);
      await expect(store().get(`agora://${ns}/result/fragile`)).rejects.toThrow(StorageError);
    });

    when('defer-index', async () => {
      const ns = fresh();
      const peer = (await harness().peer?.()) ?? store();
      const put = await store().put(`agora://${ns}/result/r.deferred`, bytesOf('later'), { deferIndex: true });
      expect(put).toEqual({ contentHash: sha256('later'), uri: `agora://${ns}/result/r.deferred/${sha256('later')}` });
      // The bytes are durable when put resolves: another instance reads them by the pinned URI.
      expect(Buffer.from(await peer.get(put.uri)).toString()).toBe('later');
      await store().flush?.();
      expect((await peer.resolveLatest(`agora://${ns}/result/r.deferred`))?.uri).toBe(put.uri);
      expect((await store().resolveLatest(`agora://${ns}/result/r.deferred`))?.uri).toBe(put.uri);
      expect(await peer.listNames({ namespace: ns, type: 'result' })).toEqual(['r.deferred']);
    });

    when('concurrent-puts', async () => {
      const ns = fresh();
      const versions = Array.from({ length: 8 }, (_, i) => bytesOf(`version ${i} ${randomBytes(4).toString('hex')}`));
      const names = Array.from({ length: 8 }, (_, i) => `item-${i}`);
      const puts = await Promise.all([
        ...versions.map((b) => store().put(`agora://${ns}/task/shared`, b)),
        ...names.map((n) => store().put(`agora://${ns}/task/${n}`, bytesOf(n))),
      ]);
      for (const [i, b] of versions.entries()) expect((await read(puts[i]!.uri)).equals(b)).toBe(true);
      const list = await store().list(`agora://${ns}/task/shared`);
      expect(new Set(list.map((e) => e.contentHash))).toEqual(new Set(versions.map((b) => sha256(b))));
      expect(list).toHaveLength(versions.length);
      expect(await store().listNames({ namespace: ns, type: 'task' })).toEqual([...names, 'shared'].sort());
    });

    when(
      'large-object',
      async () => {
        const ns = fresh();
        const big = randomBytes(LARGE_OBJECT_BYTES);
        const put = await store().put(`agora://${ns}/result/r.big`, big);
        expect(put.contentHash).toBe(sha256(big));
        const back = await read(put.uri);
        expect(back.length).toBe(big.length);
        expect(back.equals(big)).toBe(true);
      },
      60_000,
    );

    when('health', async () => {
      const health = await store().health!();
      expect(health.ok, health.message).toBe(true);
      expect(typeof health.message).toBe('string');
      expect(health.message.length).toBeGreaterThan(0);
    });
  });
}
