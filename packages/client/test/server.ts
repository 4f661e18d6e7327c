// The real Latchkey server, in process on port 0, for the SDK's tests.
export { newUser, type ServedApp, servedApp } from '../../../apps/server/test/helpers/app.js';
export { migratedTestDatabase, type TestDatabase } from '../../../apps/server/test/helpers/database.js';
