export * from './client.js';
export * from './replay-plan.js';
