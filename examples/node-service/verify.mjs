// Verifying identity's access tokens in a Node service with jose, offline against the JWKS URL.
//
//   import { createVerifier } from "./verify.mjs";
//   const verify = createVerifier({ jwksUrl, issuer, audience });
//   const claims = await verify(token); // throws a jose error when the token is not ours or not valid
//
// As a command: JWKS_URL=… ISSUER=… AUDIENCE=… node verify.mjs < token
// prints the claims as JSON, or the jose error code on stderr and exits 1.
import { createRemoteJWKSet, jwtVerify } from "jose";

/** The algorithms identity signs with (IDENTITY_SIGNING_ALG); never the token's own choice. */
const ALGORITHMS = ["ES256", "EdDSA", "RS256"];

export function createVerifier({ jwksUrl, issuer, audience, clockToleranceSeconds = 30 }) {
  // Fetched once, cached, refetched (rate-limited) when a token names an unknown key id.
  const jwks = createRemoteJWKSet(new URL(jwksUrl));
  return async function verify(token) {
    const { payload } = await jwtVerify(token, jwks, {
      issuer,
      audience,
      typ: "at+jwt", // RFC 9068: an access token, not an ID token or another JWT
      algorithms: ALGORITHMS,
      clockTolerance: clockToleranceSeconds,
      requiredClaims: ["sub", "exp", "iat", "jti"],
    });
    return payload;
  };
}

async function main() {
  const { JWKS_URL, ISSUER, AUDIENCE } = process.env;
  if (!JWKS_URL || !ISSUER || !AUDIENCE) {
    console.error("set JWKS_URL, ISSUER and AUDIENCE; the token comes on stdin");
    process.exit(2);
  }
  let token = "";
  for await (const chunk of process.stdin) token += chunk;
  const verify = createVerifier({ jwksUrl: JWKS_URL, issuer: ISSUER, audience: AUDIENCE });
  try {
    console.log(JSON.stringify(await verify(token.trim())));
  } catch (error) {
    console.error(error.code ?? error.name);
    process.exit(1);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
