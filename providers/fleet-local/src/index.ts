export * from './local-fleet-provider.js';
