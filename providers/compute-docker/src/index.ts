export * from './docker-compute-provider.js';
export { assertDigestPinned, isDigestPinned } from '@agora/core';
export * from './secret-refs.js';
export * from './log-demux.js';
