export * from './docker-fleet-provider.js';
