/**
 * The REST bodies of external sign-in (OpenID Connect providers, GitHub), from the schemas
 * auth.exchangeCode and auth.identities.* validate with, in snake_case.
 */
import { z } from 'zod';
import { exchangeCodeInput, linkStartInput, unlinkInput } from '../../modules/identity/identity.schemas.js';
import type { Identity } from '../../modules/identity/identity.service.js';

export const exchangeCodeBody = z.object({
  code: exchangeCodeInput.shape.code.meta({
    description: "The one-time code of the callback's redirect (`#code=...` in the fragment of `redirect_to`): single use, 60 seconds",
  }),
});

export const linkIdentityBody = z.object({
  provider: linkStartInput.shape.provider.meta({ description: 'The id of a configured provider (`GET /api/providers`)' }),
  redirect_to: linkStartInput.shape.redirectTo.meta({
    description: 'Where the browser comes back to (`#code=...` or `#error=<appCode>`): an absolute URL allowed by ALLOWED_REDIRECTS',
  }),
});

export const identityPath = z.object({ identity_id: unlinkInput.shape.identityId });

export const providersResponse = z.object({
  providers: z
    .array(
      z.object({
        id: z.string().meta({ description: 'The provider id of the `/auth/oidc/{provider}/...` routes: `google`, `github`, ...' }),
        name: z.string().meta({ description: 'Its display name, for a sign-in button' }),
      }),
    )
    .meta({ description: 'The configured providers (OIDC_<ID>_*, GITHUB_CLIENT_ID)' }),
});

export const identityJson = z.object({
  id: z.string(),
  provider: z.string().meta({ description: 'The provider id' }),
  email: z.string().nullable().meta({ description: 'The address the provider gave at the last sign-in; null when none' }),
  email_verified: z.boolean().meta({ description: 'Whether the provider said that address is verified' }),
  created_at: z.string().meta({ description: 'ISO 8601: when it was linked' }),
  last_used_at: z.string().nullable().meta({ description: 'ISO 8601: its last sign-in; null when never' }),
});

export const linkCompleteBody = z.object({
  code: exchangeCodeInput.shape.code.meta({
    description:
      "The code of a link flow's redirect (`#link_code=...` in the fragment of `redirect_to`): single use, 60 seconds, only for the user who started the flow",
  }),
});
export const linkedIdentityResponse = z.object({ identity: identityJson });
export const identitiesResponse = z.object({ identities: z.array(identityJson).meta({ description: 'Oldest first' }) });

export const linkIdentityResponse = z.object({
  url: z.string().meta({
    description:
      "Send the browser there (a top-level navigation, not fetch): this server's `/auth/oidc/{provider}/start?link=...`, which opens once, within 10 minutes, then redirects to the provider",
  }),
});

export function toIdentityJson(identity: Identity): z.input<typeof identityJson> {
  return {
    id: identity.id,
    provider: identity.provider,
    email: identity.email,
    email_verified: identity.emailVerified,
    created_at: identity.createdAt.toISOString(),
    last_used_at: identity.lastUsedAt?.toISOString() ?? null,
  };
}
