export * from './evidence.js';
export * from './sealer.js';
