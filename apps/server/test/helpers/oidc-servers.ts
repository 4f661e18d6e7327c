import { type ServedApp, servedApp } from '../../src/testing.js';
import { migratedTestDatabase, type TestDatabase } from './database.js';
import { type GitHubDouble, startGitHubDouble } from './github-double.js';
import { startOidcProvider, type TestOidcProvider } from './oidc-provider.js';

/** The server's BASE_URL in the external sign-in tests: the providers' registered callbacks are under it. */
export const OIDC_BASE_URL = 'http://localhost:3000';

/** The settings of a server that knows the provider as `test` (and GitHub's preset at the double). */
export function oidcEnv(provider: TestOidcProvider, github?: GitHubDouble): Record<string, string> {
  return {
    BASE_URL: OIDC_BASE_URL,
    OIDC_TEST_ISSUER: provider.issuer,
    OIDC_TEST_CLIENT_ID: provider.clientId,
    OIDC_TEST_CLIENT_SECRET: provider.clientSecret,
    ...(github && {
      OIDC_TEST_NAME: 'Test provider',
      GITHUB_CLIENT_ID: github.clientId,
      GITHUB_CLIENT_SECRET: github.clientSecret,
      GITHUB_OAUTH_URL: github.url,
      GITHUB_API_URL: github.url,
    }),
  };
}

export interface OidcServers {
  provider: TestOidcProvider;
  github: GitHubDouble;
  database: TestDatabase;
  /** The served app, with the provider as `test` and GitHub's preset. */
  app: ServedApp;
  /** Closes what started, and `more` (other apps of the database) first. */
  close(more?: readonly (ServedApp | undefined)[]): Promise<void>;
}

/** A real OpenID provider, a GitHub double, a migrated database and a served app that knows both. */
export async function startOidcServers(): Promise<OidcServers> {
  const provider = await startOidcProvider({ redirectUris: [`${OIDC_BASE_URL}/auth/oidc/test/callback`] });
  const github = await startGitHubDouble({ callbackUrl: `${OIDC_BASE_URL}/auth/oidc/github/callback` });
  const database = await migratedTestDatabase();
  const app = await servedApp(database, { env: oidcEnv(provider, github) });
  return {
    provider,
    github,
    database,
    app,
    async close(more = []) {
      for (const other of more) await other?.close();
      await app.close();
      await database.close();
      await provider.close();
      await github.close();
    },
  };
}
