import { ValueError, type AgoraConfig, type FleetProvider, type ProviderRegistry, type RunnerLaunch } from '@agora/core';
import { defaultRegistry } from './providers.js';

/** The fleet a verb acts on: `name` when given, else the only one configured. */
export function chooseFleet(config: AgoraConfig, name?: string): string {
  const names = Object.keys(config.fleet).sort();
  if (name !== undefined) {
    if (!(name in config.fleet)) throw new ValueError(`unknown fleet "${name}" (configured: ${names.join(', ') || 'none'})`);
    return name;
  }
  if (names.length === 1) return names[0]!;
  if (names.length === 0) throw new ValueError('no fleet is configured: add "fleet": { "<name>": { "provider": "local" } } to the config');
  throw new ValueError(`several fleets are configured (${names.join(', ')}): name one with --provider <name>`);
}

/** Builds the fleet provider `fleet.<name>` names, for runners that join this deployment through `launch`. */
export async function createFleetProvider(config: AgoraConfig, name: string, launch: RunnerLaunch, registry: ProviderRegistry = defaultRegistry()): Promise<FleetProvider> {
  const ref = config.fleet[name];
  if (ref === undefined) throw new ValueError(`unknown fleet "${name}"`);
  return registry.create('fleet', ref.provider, ref.options, {
    configDir: config.configDir,
    dataDir: config.dataDir,
    namespace: config.namespace,
    name,
    runnerLaunch: launch,
  });
}
