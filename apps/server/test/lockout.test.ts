/**
 * Owners are not locked out by strangers (issue 13, item 6; OWASP "device cookies"): failed
 * logins are counted per (account, address) and per (account, device token); the account-wide cap
 * of consecutive failures skips attempts that carry a valid device token for the account.
 */
import { describe, expect, it } from 'vitest';
import { LOGIN_BACKOFF } from '../src/modules/throttle/throttle.policy.js';
import { appForFile, newUser, signedIn } from './helpers/app.js';
import { failure } from './helpers/failure.js';

const file = appForFile();

let addresses = 0;
/** A new client address each call, as a botnet would rotate them. */
const rotating = () => {
  addresses += 1;
  return `198.18.${(addresses >> 8) & 255}.${addresses & 255}`;
};

async function owner() {
  const input = newUser('owner');
  await file.app.caller({ ip: '192.0.2.200' }).auth.register(input);
  // The owner's laptop signed in once before and kept its device token.
  const { deviceToken } = await signedIn(file.app.caller({ ip: '192.0.2.201' }).auth.login(input));
  return { input, deviceToken };
}

describe('targeted lockout', () => {
  it("six wrong passwords for someone else's email from one address do not make the owner's correct password RATE_LIMITED elsewhere", async () => {
    const { input } = await owner();
    for (let i = 0; i < LOGIN_BACKOFF.freeFailures + 1; i += 1)
      await failure(file.app.caller({ ip: '203.0.113.9' }).auth.login({ email: input.email, password: `guess ${i}` }));
    expect(await failure(file.app.caller({ ip: '203.0.113.9' }).auth.login({ email: input.email, password: 'one more' }))).toMatchObject({
      appCode: 'RATE_LIMITED',
    });
    await expect(file.app.caller({ ip: '192.0.2.202' }).auth.login(input)).resolves.toHaveProperty('accessToken');
  });

  it("after 200 failures from rotating addresses, the owner's device signs in at once; from a new address the owner waits no longer than the cap", async () => {
    const { input, deviceToken } = await owner();
    const outcomes = [];
    for (let i = 0; i < 200; i += 1)
      outcomes.push(await failure(file.app.caller({ ip: rotating() }).auth.login({ email: input.email, password: `botnet guess ${i}` })));
    // The cap: 100 consecutive failures were checked, then none.
    expect(outcomes.filter((o) => o.appCode === 'INVALID_CREDENTIALS')).toHaveLength(LOGIN_BACKOFF.hardLimit);
    expect(outcomes.filter((o) => o.appCode === 'RATE_LIMITED')).toHaveLength(200 - LOGIN_BACKOFF.hardLimit);

    // The owner's device: at once, from any address.
    const signedInAgain = await signedIn(file.app.caller({ ip: rotating() }).auth.login({ ...input, deviceToken }));
    expect(signedInAgain.user.email).toBe(input.email);

    // A success resets the consecutive count: start the flood again, then try without the device.
    for (let i = 0; i < LOGIN_BACKOFF.hardLimit + 5; i += 1)
      await failure(file.app.caller({ ip: rotating() }).auth.login({ email: input.email, password: `second wave ${i}` }));
    const waiting = await failure(file.app.caller({ ip: rotating() }).auth.login(input));
    expect(waiting.appCode).toBe('RATE_LIMITED');
    expect(waiting.retryAfterSeconds).toBeGreaterThan(0);
    expect(waiting.retryAfterSeconds).toBeLessThanOrEqual(LOGIN_BACKOFF.hardLimitWaitSeconds);
    file.app.clock.advance(waiting.retryAfterSeconds ?? 0);
    await expect(file.app.caller({ ip: rotating() }).auth.login(input)).resolves.toHaveProperty('accessToken');
  });

  it("another account's device token counts as none: the attacker's own token does not lift the cap for the victim", async () => {
    const victim = await owner();
    const attacker = await owner();
    for (let i = 0; i < LOGIN_BACKOFF.hardLimit; i += 1)
      await failure(
        file.app
          .caller({ ip: rotating() })
          .auth.login({ email: victim.input.email, password: `guess ${i}`, deviceToken: attacker.deviceToken }),
      );
    expect(
      await failure(
        file.app.caller({ ip: rotating() }).auth.login({ email: victim.input.email, password: 'next', deviceToken: attacker.deviceToken }),
      ),
    ).toMatchObject({ appCode: 'RATE_LIMITED' });
    await expect(
      file.app.caller({ ip: rotating() }).auth.login({ ...victim.input, deviceToken: victim.deviceToken }),
    ).resolves.toHaveProperty('accessToken');
  });

  it('a device token is no free pass: failures with it back off per device', async () => {
    const { input, deviceToken } = await owner();
    for (let i = 0; i < LOGIN_BACKOFF.freeFailures; i += 1)
      expect(
        await failure(file.app.caller({ ip: rotating() }).auth.login({ email: input.email, password: `typo ${i}`, deviceToken })),
      ).toMatchObject({
        appCode: 'INVALID_CREDENTIALS',
      });
    expect(await failure(file.app.caller({ ip: rotating() }).auth.login({ ...input, deviceToken }))).toMatchObject({
      appCode: 'RATE_LIMITED',
    });
  });

  it('login and registration hand out a device token; signing in again from that device keeps it one device', async () => {
    const input = newUser('device');
    const registered = await file.app.caller().auth.register(input);
    expect(registered.deviceToken).toMatch(/^[A-Za-z0-9_-]{70,}$/);
    file.app.clock.advance(60);
    const again = await signedIn(file.app.caller().auth.login({ ...input, deviceToken: registered.deviceToken }));
    expect(again.deviceToken).not.toBe(registered.deviceToken);
    // Both name the same device: failures with either count together.
    for (let i = 0; i < LOGIN_BACKOFF.freeFailures; i += 1)
      await failure(
        file.app.caller({ ip: rotating() }).auth.login({ email: input.email, password: `typo ${i}`, deviceToken: registered.deviceToken }),
      );
    expect(await failure(file.app.caller({ ip: rotating() }).auth.login({ ...input, deviceToken: again.deviceToken }))).toMatchObject({
      appCode: 'RATE_LIMITED',
    });
  });
});
