export { EmbeddedMongoServer, type EmbeddedMongoOptions } from './embedded-mongo.server.js';
