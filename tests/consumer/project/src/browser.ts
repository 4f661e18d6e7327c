// The browser entry: bundled with esbuild from the installed packages and run in Chromium.
import { createAuthClient, localStorageStorage } from '@latchkey/client';

declare global {
  interface Window {
    signInAndReadProfile(api: string, email: string, password: string): Promise<{ email: string; createdAt: string }>;
  }
}

window.signInAndReadProfile = async (api, email, password) => {
  const auth = createAuthClient({ url: api, storage: localStorageStorage() });
  await auth.login({ email, password });
  const me = await auth.user.me.query();
  return { email: me.email, createdAt: me.createdAt.toISOString() };
};
