import { readFile, writeFile } from 'node:fs/promises';
import { NotFoundError, IllegalStateError, ValueError, coerceError, decodeUtf8, parsePlanText } from '@agora/core';
import { parseVerifierKey, verifyEventProof } from '@agora/audit';
import { createEvidence, verifyEvidence } from '@agora/evidence';
import { createRedis } from '@agora/state';
import { CliError, EXIT, resolveConfig, type GlobalOpts } from '../context.js';
import { checkOutputFile, parseSeq } from '../options.js';
import { assertRedisReachable } from '../redis-check.js';

const SUBCOMMANDS = new Set(['verify', 'prove', 'verify-proof', 'pubkey']);

export interface AuditOpts {
  readonly out?: string;
  readonly key?: string;
  /** Every printing verb takes --json: the bundle, reports and proofs are JSON already; pubkey prints `{ vkey }`. */
  readonly json?: boolean;
}

async function withEvidence<T>(g: GlobalOpts, fn: (e: ReturnType<typeof createEvidence>) => Promise<T>, needRedis = true): Promise<T> {
  const config = await resolveConfig(g);
  if (needRedis) await assertRedisReachable(config.redisUrl);
  const redis = createRedis(config.redisUrl, needRedis ? {} : { lazyConnect: true });
  try {
    return await fn(createEvidence({ config, redis }));
  } catch (err) {
    if (err instanceof NotFoundError || err instanceof IllegalStateError) throw new CliError(err.message);
    throw err;
  } finally {
    redis.disconnect();
  }
}

/**
 * A bundle or proof file as JSON. Its bytes must be UTF-8 (RFC 8259 8.1): read loosely, a byte
 * that is not would become U+FFFD and the verifier would hash a text the file does not hold, so
 * such a file is bad input (exit 2) naming the byte, as a plan file is.
 */
export async function readJson(file: string): Promise<unknown> {
  let text: string;
  try {
    text = decodeUtf8(await readFile(file), file);
  } catch (err) {
    if (err instanceof ValueError) throw new CliError(err.message);
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    // Not JSON: named by line and column, as a plan file and `agora replay`'s bundle are (the
    // plan parser's message names the first error), not by JSON.parse's character position.
    try {
      parsePlanText(text, file);
    } catch (planErr) {
      throw new CliError(coerceError(planErr).message);
    }
    throw new CliError(`${file}: invalid JSON: ${coerceError(err).message}`);
  }
}

/** An unusable `--key` is a bad flag (exit 2), not a bundle that failed to verify (exit 1). */
export function pinnedKey(opts: Pick<AuditOpts, 'key'>): { key?: string } {
  if (opts.key === undefined) return {};
  try {
    parseVerifierKey(opts.key);
    return { key: opts.key };
  } catch (err) {
    throw new CliError(`--key is not a verifier key (name+hash+key, as "agora audit pubkey" prints): ${coerceError(err).message}`);
  }
}

function print(v: unknown): void {
  process.stdout.write(JSON.stringify(v, null, 2) + '\n');
}

/**
 * `agora audit <run> [--out file]`: the run's evidence bundle (sealed now if the scheduler has
 * not yet), verified against the anchor store. Without --out the bundle is printed; with it the
 * bundle goes to the file and the report is printed. Exit 1 when it does not verify.
 * `agora audit verify <bundle.json> [--key vkey]`, `agora audit prove <run> <seq>`,
 * `agora audit verify-proof <proof.json> [--key vkey]`, `agora audit pubkey`.
 */
export async function auditCmd(args: readonly string[], opts: AuditOpts, g: GlobalOpts): Promise<number> {
  const [first, ...rest] = args;
  if (first === undefined) throw new CliError('usage: agora audit <run> [--out file] | verify <bundle> [--key vkey] | prove <run> <seq> | verify-proof <proof> [--key vkey] | pubkey [--json]');
  // A flag the form does not take is refused, not ignored: `--key` on `agora audit <run>` would
  // look like a pinned check that never happened, `--out` on `verify` like a file that was written.
  const isRun = !SUBCOMMANDS.has(first);
  if (opts.key !== undefined && first !== 'verify' && first !== 'verify-proof') {
    throw new CliError(`--key is for audit verify and verify-proof${isRun ? ' (agora audit <run> always pins the deployment\'s own key)' : ''}`);
  }
  if (opts.out !== undefined && !isRun) throw new CliError('--out is for agora audit <run>');
  if (isRun) {
    if (rest.length > 0) {
      throw new CliError(`agora audit <run> takes one run id; ${JSON.stringify(first.slice(0, 100))} is not a subcommand (verify, prove, verify-proof, pubkey), and ${rest.map((a) => JSON.stringify(a.slice(0, 100))).join(' ')} is one argument too many`);
    }
    if (opts.out !== undefined) await checkOutputFile(opts.out);
    const bundle = await withEvidence(g, (e) => e.bundle(first));
    if (opts.out !== undefined) {
      const out = opts.out;
      // 0600 when created: the bundle holds every event of the run, inputs included (an existing file keeps its mode).
      await writeFile(out, JSON.stringify(bundle, null, 2) + '\n', { mode: 0o600 }).catch((err: unknown) => {
        // Checked above, but the directory can change under us: still a bad --out, not a crash.
        throw new CliError(`cannot write --out ${out}: ${(err as NodeJS.ErrnoException).code ?? coerceError(err).message}`);
      });
      print(bundle.report);
    } else {
      print(bundle);
    }
    return bundle.report.intact ? EXIT.ok : EXIT.failed;
  }
  if (first === 'pubkey') {
    if (rest.length > 0) throw new CliError(`usage: agora audit pubkey (unexpected arguments: ${rest.join(' ').slice(0, 200)})`);
    const s = await withEvidence(g, (e) => e.signer(), false);
    if (opts.json) print({ vkey: s.vkey });
    else process.stdout.write(`${s.vkey}\n`);
    return EXIT.ok;
  }
  if (first === 'verify') {
    if (rest.length !== 1) throw new CliError('usage: agora audit verify <bundle.json> [--key vkey]');
    const key = pinnedKey(opts);
    const bundle = await readJson(rest[0]!);
    // Offline: nothing the bundle says about itself is trusted; without --key a warning says
    // the signer was not pinned.
    const report = await verifyEvidence(bundle, key);
    print(report);
    return report.intact ? EXIT.ok : EXIT.failed;
  }
  if (first === 'prove') {
    if (rest.length !== 2) throw new CliError('usage: agora audit prove <run> <seq>');
    const seq = parseSeq(rest[1]!, '<seq>');
    print(await withEvidence(g, (e) => e.prove(rest[0]!, seq).catch((err: unknown) => { throw new CliError((err as Error).message); })));
    return EXIT.ok;
  }
  // verify-proof
  if (rest.length !== 1) throw new CliError('usage: agora audit verify-proof <proof.json> [--key vkey]');
  const key = pinnedKey(opts);
  const result = verifyEventProof(await readJson(rest[0]!), key);
  print(result);
  return result.ok ? EXIT.ok : EXIT.failed;
}
