export * from './providers.js';
export * from './tasks.js';
export * from './health.js';
export * from './artifacts.js';
export * from './fleet.js';
