// A verifier built from the OpenWallet Foundation's sd-jwt-js: given Tillid's issuer URL, a
// PID (SD-JWT VC) and the wallet's private key, it checks the credential's signature against
// the keys at /.well-known/jwt-vc-issuer, fetches and verifies its Token Status List (as the
// library does: content type, signature, the bit), makes a presentation of two chosen claims
// bound to the wallet key and verifies that. Prints one JSON line: what it found.
//   node verify.mjs ISSUER CREDENTIAL HOLDER_PRIVATE_JWK
import { ES256, digest, generateSalt } from "@sd-jwt/crypto-nodejs";
import { SDJwtVcInstance } from "@sd-jwt/sd-jwt-vc";
import { getListFromStatusListJWT } from "@sd-jwt/jwt-status-list";

const [issuer, credential, holderJwk] = process.argv.slice(2);
const holder = JSON.parse(holderJwk);

const decode = (part) => JSON.parse(Buffer.from(part, "base64url").toString("utf8"));

const metadata = await (await fetch(`${issuer}/.well-known/jwt-vc-issuer`)).json();

// The issuer's key for a JWT (the credential or its status list), by the header's kid.
async function verifier(data, signature) {
  const { kid, alg } = decode(data.split(".")[0]);
  const jwk = metadata.jwks.keys.find((key) => key.kid === kid);
  if (!jwk || alg !== "ES256") return false;
  return (await ES256.getVerifier(jwk))(data, signature);
}

// The key-binding JWT is checked against the key the credential binds (cnf.jwk).
async function kbVerifier(data, signature, payload) {
  return (await ES256.getVerifier(payload.cnf.jwk))(data, signature);
}

const wallet = new SDJwtVcInstance({
  hasher: digest,
  hashAlg: "sha-256",
  saltGenerator: generateSalt,
  verifier,
  kbVerifier,
  kbSigner: await ES256.getSigner(holder),
  kbSignAlg: "ES256",
});

const report = { metadata_issuer: metadata.issuer };
try {
  const { payload, header } = await wallet.verify(credential);
  report.verified = true;
  report.header = header;
  report.claims = payload;
} catch (error) {
  report.verified = false;
  report.error = `${error.name}: ${error.message}`;
}

// The status read with @sd-jwt/jwt-status-list directly, whatever verify() concluded.
const reference = decode(credential.split("~")[0].split(".")[1]).status.status_list;
const response = await fetch(reference.uri);
const listJwt = await response.text();
report.status_list = {
  content_type: response.headers.get("content-type"),
  typ: decode(listJwt.split(".")[0]).typ,
  signature_valid: await verifier(listJwt.split(".").slice(0, 2).join("."), listJwt.split(".")[2]),
  sub: decode(listJwt.split(".")[1]).sub,
  status: getListFromStatusListJWT(listJwt).getStatus(reference.idx),
};

if (report.verified) {
  const nonce = "nonce-from-the-verifier";
  const presentation = await wallet.present(
    credential,
    { given_name: true, age_equal_or_over: { 18: true } },
    { kb: { payload: { aud: "https://verifier.example", nonce, iat: Math.floor(Date.now() / 1000) } } },
  );
  const seen = await wallet.verify(presentation, { keyBindingNonce: nonce });
  report.presented = seen.payload;
  report.presentation_bound = Boolean(seen.kb);
}

console.log(JSON.stringify(report));
