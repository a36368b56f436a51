export * from './providers.js';
export * from './tasks.js';
export * from './health.js';
export * from './artifacts.js';
export * from './provider-package.js';
export * from './credentials/secret-ref.js';
export * from './credentials/static-credential-provider.js';
export * from './credentials/file-credential-provider.js';
