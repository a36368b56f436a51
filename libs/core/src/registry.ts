import { ValueError } from './errors.js';
import { checkProviderContract } from './provider-contracts.js';
import type { ComputeProvider, CredentialProvider, FleetProvider, NotificationProvider, ResultSink, StorageProvider } from './providers.js';
import type { RunnerLaunch } from './fleet.js';

export type ProviderKind = 'compute' | 'storage' | 'credentials' | 'resultSink' | 'notification' | 'fleet';

export interface ProviderFactoryContext {
  /** Directory relative paths in options resolve against. */
  readonly configDir: string;
  readonly dataDir: string;
  readonly namespace: string;
  /** The config key of the instance (fleet providers name and label their replicas with it). */
  readonly name?: string;
  /** Fleet providers: what the runners they start need to join this deployment. */
  readonly runnerLaunch?: RunnerLaunch;
}

type Instance<K extends ProviderKind> = K extends 'fleet'
  ? FleetProvider
  : K extends 'compute'
  ? ComputeProvider
  : K extends 'storage'
    ? StorageProvider
    : K extends 'resultSink'
      ? ResultSink
      : K extends 'notification'
        ? NotificationProvider
        : CredentialProvider;

export type ProviderFactory<K extends ProviderKind> = (
  options: Record<string, unknown>,
  ctx: ProviderFactoryContext,
) => Instance<K> | Promise<Instance<K>>;

/** A config's `provider` value that names an npm package instead of a built-in alias: `package:<name>`. */
export const PACKAGE_PROVIDER_PREFIX = 'package:';

/**
 * Loads a provider package (`package:<name>` minus the prefix) and returns what its
 * `createProvider(kind, options, ctx)` made; `ProviderRegistry` checks the result's contract.
 */
export type ProviderPackageLoader = (kind: string, packageName: string, options: Record<string, unknown>, ctx: ProviderFactoryContext) => Promise<unknown>;

/**
 * Maps aliases (as written in the config's `provider` fields) to provider factories (seed 001).
 * Optional providers register lazily so a deployment without the AWS SDK still starts.
 */
export class ProviderRegistry {
  private readonly factories = new Map<string, ProviderFactory<ProviderKind>>();

  /** `loadPackage` serves `package:<name>` providers; without it they are refused. */
  constructor(private readonly opts: { readonly loadPackage?: ProviderPackageLoader } = {}) {}

  register<K extends ProviderKind>(kind: K, alias: string, factory: ProviderFactory<K>, opts: { replace?: boolean } = {}): this {
    const key = `${kind}:${alias}`;
    if (this.factories.has(key) && !opts.replace) throw new ValueError(`${kind} provider "${alias}" is already registered`);
    this.factories.set(key, factory as ProviderFactory<ProviderKind>);
    return this;
  }

  aliases(kind: ProviderKind): string[] {
    return [...this.factories.keys()].filter((k) => k.startsWith(`${kind}:`)).map((k) => k.slice(kind.length + 1)).sort();
  }

  async create<K extends ProviderKind>(kind: K, alias: string, options: Record<string, unknown>, ctx: ProviderFactoryContext): Promise<Instance<K>> {
    if (alias.startsWith(PACKAGE_PROVIDER_PREFIX)) return this.createFromPackage(kind, alias, options, ctx);
    const f = this.factories.get(`${kind}:${alias}`);
    if (!f) throw new ValueError(`unknown ${kind} provider "${alias}" (registered: ${this.aliases(kind).join(', ') || 'none'})`);
    return (await f(options, ctx)) as Instance<K>;
  }

  /** A third party's provider: loaded from the package, then checked against the kind's contract. */
  private async createFromPackage<K extends ProviderKind>(kind: K, alias: string, options: Record<string, unknown>, ctx: ProviderFactoryContext): Promise<Instance<K>> {
    if (!this.opts.loadPackage) throw new ValueError(`${kind} provider "${alias}": this registry loads no provider packages`);
    const made = await this.opts.loadPackage(kind, alias.slice(PACKAGE_PROVIDER_PREFIX.length), options, ctx);
    checkProviderContract(kind, made, alias);
    return made as Instance<K>;
  }
}
