export * from './aws-credential-provider.js';
