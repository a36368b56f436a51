export * from './scheduler.js';
export * from './flows.js';
export type { ItemJobData } from '@agora/state';
