// The suite's apps come from the test kit (`@latchkey/server/testing`), the one copy the packages' tests use too.
export {
  newUser,
  type RequestLogEntry,
  type ServedApp,
  servedApp,
  TEST_JWT_SECRET as TEST_SECRET,
  type TestApp,
  type TestAppOptions,
  testApp,
  testConfig,
} from '../../src/testing.js';
