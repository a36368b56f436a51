export * from './scheduler.js';
export * from './flows.js';
export type { ItemJobData } from '@agora/state';
export { collectDeadLetters, type DeadLetterContext } from './dead-letters.js';
