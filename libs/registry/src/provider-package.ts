import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { resolve as resolveModule } from 'import-meta-resolve';
import { AgoraError, ValueError, coerceError, type ProviderFactoryContext } from '@agora/core';

/**
 * An npm package name, optionally scoped (`@acme/agora-compute-nomad`). Only names: a path or a
 * URL would let a config load code from anywhere, and `node:` builtins are not providers.
 */
const PACKAGE_NAME_RE = /^(?:@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/;

/** What a provider package exports (README "Writing a provider"). */
interface ProviderPackageModule {
  /** Makes the provider of `kind` from the config's `options`. */
  readonly createProvider?: unknown;
  /** Kinds the package provides; when present, any other kind is refused before `createProvider` runs. */
  readonly kinds?: unknown;
  readonly default?: unknown;
}

/**
 * Loads a third-party provider named in the config as `package:<name>`: the package is resolved
 * the way Node resolves an `import` written in a file in the config's directory (its
 * `node_modules`, then each parent's: a project's own dependencies), imported, and its
 * `createProvider(kind, options, ctx)` called. `ProviderRegistry` then checks the returned
 * object against the kind's contract.
 */
export async function loadProviderPackage(kind: string, name: string, options: Record<string, unknown>, ctx: ProviderFactoryContext): Promise<unknown> {
  const label = `${kind} provider "package:${name}"`;
  if (name.length > 214 || !PACKAGE_NAME_RE.test(name)) {
    throw new ValueError(`${label}: "${name}" is not an npm package name (lowercase, optionally @scope/; no paths or URLs)`);
  }
  let url: string;
  try {
    url = resolveModule(name, pathToFileURL(path.join(ctx.configDir, 'agora.config.json')).href);
  } catch (err) {
    throw new ValueError(`${label}: cannot find package "${name}" from ${ctx.configDir} (install it in the project: npm install ${name}): ${coerceError(err).message}`, { cause: err });
  }
  if (!url.startsWith('file:')) throw new ValueError(`${label}: "${name}" resolves to ${url}, not a file of an installed package`);
  let mod: ProviderPackageModule;
  try {
    mod = (await import(url)) as ProviderPackageModule;
  } catch (err) {
    throw new ValueError(`${label}: importing ${url} failed: ${coerceError(err).message}`, { cause: err });
  }
  // A CommonJS package's module.exports arrives as `default`.
  const exportsOf = typeof mod.createProvider === 'function' || mod.default === null || typeof mod.default !== 'object' ? mod : (mod.default as ProviderPackageModule);
  const { createProvider, kinds } = exportsOf;
  if (kinds !== undefined) {
    if (!Array.isArray(kinds) || !kinds.every((k) => typeof k === 'string')) throw new ValueError(`${label}: its "kinds" export is not an array of kind names`);
    if (!kinds.includes(kind)) throw new ValueError(`${label}: the package provides ${kinds.map((k) => `"${k}"`).join(', ') || 'no kinds'}, not "${kind}"`);
  }
  if (typeof createProvider !== 'function') {
    throw new ValueError(`${label}: the package exports no createProvider(kind, options, ctx) function (its exports: ${Object.keys(exportsOf).join(', ') || 'none'})`);
  }
  try {
    return await (createProvider as (k: string, o: Record<string, unknown>, c: ProviderFactoryContext) => unknown)(kind, options, ctx);
  } catch (err) {
    throw labelled(err, `${label}: createProvider() failed: `);
  }
}

/**
 * The package's own error with the package and the kind in front of its message (`doctor`,
 * `/readyz` and a runner's log show only the message): an `AgoraError` keeps its code and
 * `retryable`, anything else stays a plain `Error`; the original is the `cause`.
 */
function labelled(err: unknown, prefix: string): Error {
  const message = prefix + coerceError(err).message;
  if (err instanceof AgoraError) return new AgoraError(err.code, message, { cause: err, retryable: err.retryable });
  return new Error(message, { cause: err });
}
