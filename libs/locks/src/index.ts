export * from './lock-manager.js';
export * from './keys.js';
