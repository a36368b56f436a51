export * from './fargate-compute-provider.js';
export * from './task-exit.js';
export { isDigestPinned } from '@agora/core';
