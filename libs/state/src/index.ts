export * from './run-store.js';
export * from './scripts.js';
export * from './redis.js';
export * from './redis-server.js';
export * from './item-jobs.js';
export * from './submission.js';
export * from './fleet.js';
export * from './dead-letter-store.js';
