// A test wallet built from the OpenID4VC community's oid4vc-ts (`@openid4vc/openid4vci`,
// `@openid4vc/oauth2`) and the OpenWallet Foundation's sd-jwt-js (`@sd-jwt/sd-jwt-vc`,
// `@sd-jwt/jwt-status-list`): it obtains a PID from a credential issuer over OpenID4VCI 1.0
// and verifies it, as a wallet would. The libraries do the protocol (metadata, offer, PAR,
// PKCE, DPoP, token requests, nonce, key proofs, credential request, SD-JWT VC, status list);
// this file only gives them keys (jose) and keeps a wallet's state between steps in a file.
//
// Each command prints one JSON line: what it got, or {error, status, body} as the server
// answered. Commands:
//   offer     STATE OFFER_URI TX_CODE CLIENT_ID      pre-authorized code flow: the token
//   authorize STATE ISSUER CLIENT_ID REDIRECT_URI [scope|details]
//                                                    auth code flow, step 1: PAR; prints the
//                                                    authorization URL for the browser
//   code      STATE REDIRECT_URL                     step 2: the redirect back -> the token
//   token     STATE                                  the token request again, as the last
//                                                    `offer` or `code` made it (a replay)
//   credential STATE [--batch N] [--proof MODE] [--nonce VALUE] [--disclose JSON]
//                    [--by identifier]
//                                                    nonce, N fresh keys, N proofs, the
//                                                    credential request; each credential
//                                                    verified, and presented with only the
//                                                    claims in --disclose
//   verify    ISSUER CREDENTIAL HOLDER_JWK [DISCLOSE_JSON]
//                                                    verify a credential and its status again
// Proof MODEs that a wallet must never send (the refusal tests): `no-nonce` (the proof has
// no nonce), `nonce` (the proof carries --nonce VALUE instead of a fresh one), `foreign-key`
// (the header's jwk is one key, the signature another's), `reuse-nonce` (a nonce the
// previous `credential` command already used).
// An http:// issuer (the test suite's live server) needs WALLET_ALLOW_HTTP=1;
// WALLET_TRACE=FILE logs each request and answer to FILE.
import { createHash, randomBytes } from "node:crypto";
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { Openid4vciClient, setGlobalConfig } from "@openid4vc/openid4vci";
import {
  clientAuthenticationNone,
  getAuthorizationServerMetadataFromList,
  resourceRequest,
} from "@openid4vc/oauth2";
import { ES256, digest, generateSalt } from "@sd-jwt/crypto-nodejs";
import { SDJwtVcInstance } from "@sd-jwt/sd-jwt-vc";
import { getListFromStatusListJWT } from "@sd-jwt/jwt-status-list";
import { CompactSign, exportJWK, generateKeyPair, importJWK } from "jose";

const PID = "eu.europa.ec.eudi.pid.1";

if (process.env.WALLET_ALLOW_HTTP === "1") setGlobalConfig({ allowInsecureUrls: true });

// --- keys and the callbacks the libraries ask for ------------------------------------------

async function newKey() {
  const { privateKey } = await generateKeyPair("ES256", { extractable: true });
  return { ...(await exportJWK(privateKey)), alg: "ES256" };
}

const publicOf = ({ kty, crv, x, y }) => ({ kty, crv, x, y });
const sameKey = (a, b) => a.kty === b.kty && a.crv === b.crv && a.x === b.x && a.y === b.y;

// The private keys this wallet holds; the signJwt callback signs with the one whose public
// key the library names. `swaps` makes it sign with another key instead (foreign-key mode).
const keyring = [];
const swaps = new Map();

async function signJwt(signer, { header, payload }) {
  if (signer.method !== "jwk") throw new Error(`signer method ${signer.method} not supported`);
  const own = keyring.find((key) => sameKey(key, signer.publicJwk));
  if (!own) throw new Error("the wallet does not hold the key it was asked to sign with");
  const key = swaps.get(own.x) ?? own;
  const jwt = await new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader(header)
    .sign(await importJWK(key, "ES256"));
  return { jwt, signerJwk: signer.publicJwk };
}

function callbacks(clientId) {
  return {
    hash: (data, alg) =>
      new Uint8Array(createHash(alg.replace("-", "").toLowerCase()).update(data).digest()),
    generateRandom: (length) => new Uint8Array(randomBytes(length)),
    signJwt,
    // Tillid's wallet clients are public (no secret): client_id in the body, at every
    // endpoint. The library's default (clientAuthenticationDynamic) takes the first of the
    // server's token_endpoint_auth_methods_supported it knows, client_secret_basic.
    clientAuthentication: clientAuthenticationNone({ clientId }),
    fetch: traced,
  };
}

// WALLET_TRACE=FILE: every request the libraries send and the status it got, one JSON line
// each (what the docs and a failing test's report show).
async function traced(url, init = {}) {
  const response = await fetch(url, init);
  if (process.env.WALLET_TRACE) {
    const headers = Object.fromEntries(new Headers(init.headers ?? {}).entries());
    appendFileSync(
      process.env.WALLET_TRACE,
      `${JSON.stringify({
        method: init.method ?? "GET",
        url: String(url),
        headers,
        body: typeof init.body === "string" ? init.body : undefined,
        status: response.status,
        answer: await response.clone().text(),
      })}\n`,
    );
  }
  return response;
}

const signerOf = (jwk) => ({ method: "jwk", alg: "ES256", publicJwk: publicOf(jwk) });

// --- state between steps ------------------------------------------------------------------

const load = (file) => JSON.parse(readFileSync(file, "utf8"));
const save = (file, state) => writeFileSync(file, JSON.stringify(state, null, 1));

function out(result) {
  console.log(JSON.stringify(result));
}

// What the server answered, when a library call failed: its status and body as sent.
async function failure(error) {
  const report = { error: error.constructor?.name ?? "Error", message: error.message };
  // Oauth2ClientErrorResponseError and InvalidFetchResponseError keep the Response as
  // `response`; Openid4vciRetrieveCredentialsError keeps {response, ...} as `response`.
  const response = error.response instanceof Response ? error.response : error.response?.response;
  if (response) {
    report.status = response.status;
    report.www_authenticate = response.headers.get("www-authenticate");
    report.content_type = response.headers.get("content-type");
    let text = error.textResponse;
    try {
      text = await response.clone().text();
    } catch {} // read already: the library kept it as textResponse
    try {
      report.body = JSON.parse(text);
    } catch {
      report.body = text;
    }
  }
  return report;
}

// --- the token: pre-authorized code (offer) and authorization code (authorize, code) -------

async function offer(stateFile, offerUri, txCode, clientId) {
  const client = new Openid4vciClient({ callbacks: callbacks(clientId) });
  const credentialOffer = await client.resolveCredentialOffer(offerUri);
  const issuerMetadata = await client.resolveIssuerMetadata(credentialOffer.credential_issuer);
  const dpopKey = await newKey();
  const state = {
    flow: "pre-authorized_code",
    issuer: credentialOffer.credential_issuer,
    clientId,
    dpopKey,
    credentialOffer,
    txCode,
    configurationId: credentialOffer.credential_configuration_ids[0],
  };
  save(stateFile, state);
  return token(stateFile, { offer: credentialOffer, metadata: summary(issuerMetadata) });
}

async function authorize(stateFile, issuer, clientId, redirectUri, how = "details") {
  const client = new Openid4vciClient({ callbacks: callbacks(clientId) });
  const issuerMetadata = await client.resolveIssuerMetadata(issuer);
  const dpopKey = await newKey();
  keyring.push(dpopKey);
  const configuration = issuerMetadata.credentialIssuer.credential_configurations_supported[PID];
  // A wallet-initiated issuance: no offer from the issuer, so the wallet makes the
  // authorization_code grant's offer object itself (what initiateAuthorization reads).
  const credentialOffer = {
    credential_issuer: issuer,
    credential_configuration_ids: [PID],
    grants: { authorization_code: {} },
  };
  const request =
    how === "scope"
      ? { scope: configuration.scope }
      : {
          additionalRequestPayload: {
            authorization_details: [{ type: "openid_credential", credential_configuration_id: PID }],
          },
        };
  const started = await client.initiateAuthorization({
    credentialOffer,
    issuerMetadata,
    clientId,
    redirectUri,
    dpop: { signer: signerOf(dpopKey) },
    ...request,
  });
  save(stateFile, {
    flow: "authorization_code",
    issuer,
    clientId,
    redirectUri,
    dpopKey,
    dpopNonce: started.dpop?.nonce,
    credentialOffer,
    pkceCodeVerifier: started.pkce?.codeVerifier,
    configurationId: PID,
  });
  return {
    authorization_url: started.authorizationRequestUrl,
    authorization_flow: started.authorizationFlow,
    code_challenge_method: started.pkce?.codeChallengeMethod,
    metadata: summary(issuerMetadata),
  };
}

async function code(stateFile, redirectUrl) {
  const state = load(stateFile);
  const client = new Openid4vciClient({ callbacks: callbacks(state.clientId) });
  const issuerMetadata = await client.resolveIssuerMetadata(state.issuer);
  const response = client.parseAndVerifyAuthorizationResponseRedirectUrl({
    url: redirectUrl,
    authorizationServerMetadata: getAuthorizationServerMetadataFromList(
      issuerMetadata.authorizationServers,
      issuerMetadata.authorizationServers[0].issuer,
    ),
  });
  if (response.error) return { error: "authorization_response", body: response };
  state.code = response.code;
  save(stateFile, state);
  return token(stateFile, { iss: response.iss });
}

async function token(stateFile, extra = {}) {
  const state = load(stateFile);
  keyring.push(state.dpopKey);
  const client = new Openid4vciClient({ callbacks: callbacks(state.clientId) });
  const issuerMetadata = await client.resolveIssuerMetadata(state.issuer);
  const dpop = { signer: signerOf(state.dpopKey), nonce: state.dpopNonce };
  let got;
  try {
    got =
      state.flow === "pre-authorized_code"
        ? await client.retrievePreAuthorizedCodeAccessTokenFromOffer({
            credentialOffer: state.credentialOffer,
            issuerMetadata,
            txCode: state.txCode,
            dpop,
          })
        : await client.retrieveAuthorizationCodeAccessTokenFromOffer({
            credentialOffer: state.credentialOffer,
            issuerMetadata,
            authorizationCode: state.code,
            pkceCodeVerifier: state.pkceCodeVerifier,
            redirectUri: state.redirectUri,
            dpop,
          });
  } catch (error) {
    return { ...extra, ...(await failure(error)) };
  }
  const { accessTokenResponse } = got;
  state.accessToken = accessTokenResponse.access_token;
  state.dpopNonce = got.dpop?.nonce;
  state.cNonce = accessTokenResponse.c_nonce;
  state.authorizationDetails = accessTokenResponse.authorization_details;
  save(stateFile, state);
  const { access_token, refresh_token, ...shown } = accessTokenResponse;
  return { ...extra, token: { ...shown, has_refresh_token: Boolean(refresh_token) } };
}

function summary(issuerMetadata) {
  return {
    version: issuerMetadata.originalDraftVersion,
    credential_issuer: issuerMetadata.credentialIssuer.credential_issuer,
    authorization_servers: issuerMetadata.authorizationServers.map((as) => as.issuer),
    credential_endpoint: issuerMetadata.credentialIssuer.credential_endpoint,
    nonce_endpoint: issuerMetadata.credentialIssuer.nonce_endpoint,
    batch_size: issuerMetadata.credentialIssuer.batch_credential_issuance?.batch_size,
    configurations: Object.keys(issuerMetadata.credentialIssuer.credential_configurations_supported),
    // Those of a format the library knows, which validated against its schema for that format.
    known_configurations: Object.keys(issuerMetadata.knownCredentialConfigurations),
  };
}

// --- nonce, proofs, the credential request --------------------------------------------------

async function credential(stateFile, options) {
  const state = load(stateFile);
  keyring.push(state.dpopKey);
  const client = new Openid4vciClient({ callbacks: callbacks(state.clientId) });
  const issuerMetadata = await client.resolveIssuerMetadata(state.issuer);
  const batch = Number(options.batch ?? 1);
  const mode = options.proof ?? "good";

  let nonce;
  if (mode === "no-nonce") nonce = undefined;
  else if (mode === "nonce") nonce = options.nonce;
  else if (mode === "reuse-nonce") nonce = state.lastNonce;
  else nonce = (await client.requestNonce({ issuerMetadata })).c_nonce;

  const holders = [];
  const proofs = [];
  for (let i = 0; i < batch; i++) {
    const holder = await newKey();
    keyring.push(holder);
    if (mode === "foreign-key") swaps.set(holder.x, await newKey());
    holders.push(holder);
    const { jwt } = await client.createCredentialRequestJwtProof({
      issuerMetadata,
      credentialConfigurationId: state.configurationId,
      signer: signerOf(holder),
      nonce,
      clientId: state.clientId,
      issuedAt: new Date(),
    });
    proofs.push(jwt);
  }
  if (nonce !== undefined) state.lastNonce = nonce;
  save(stateFile, state);

  const report = {
    nonce_sent: nonce !== undefined,
    proofs: proofs.map((jwt) => decodeParts(jwt)),
  };
  const dpop = { signer: signerOf(state.dpopKey), nonce: state.dpopNonce };
  let credentials;
  if (options.by === "identifier") {
    // OpenID4VCI 1.0 8.2: with credential_identifiers in the token response, the request
    // names one of them. Openid4vciClient.retrieveCredentials (0.4.6) always sends
    // credential_configuration_id, so this request is the oauth2 package's resource request
    // (DPoP proof with ath, a DPoP nonce retry) with the body made here.
    const identifier = state.authorizationDetails?.[0]?.credential_identifiers?.[0];
    report.credential_identifier = identifier;
    const sent = await resourceRequest({
      dpop,
      accessToken: state.accessToken,
      callbacks: callbacks(state.clientId),
      url: issuerMetadata.credentialIssuer.credential_endpoint,
      requestOptions: {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ credential_identifier: identifier, proofs: { jwt: proofs } }),
      },
    });
    state.dpopNonce = sent.dpop?.nonce ?? state.dpopNonce;
    save(stateFile, state);
    const body = await sent.response.clone().json().catch(() => null);
    if (!sent.ok) return { ...report, ...(await failure({ response: sent.response })) };
    report.status = sent.response.status;
    credentials = body.credentials.map((c) => c.credential);
  } else {
    let response;
    try {
      response = await client.retrieveCredentials({
        issuerMetadata,
        credentialConfigurationId: state.configurationId,
        proofs: { jwt: proofs },
        accessToken: state.accessToken,
        dpop,
      });
    } catch (error) {
      return { ...report, ...(await failure(error)) };
    }
    state.dpopNonce = response.dpop?.nonce ?? state.dpopNonce;
    save(stateFile, state);
    report.status = response.response.status;
    credentials = response.credentialResponse.credentials.map((c) => c.credential);
  }
  report.credentials = [];
  for (const [i, sdJwt] of credentials.entries()) {
    report.credentials.push({
      credential: sdJwt,
      holder_jwk: holders[i],
      ...(await verify(state.issuer, sdJwt, holders[i], options.disclose)),
    });
  }
  return report;
}

function decodeParts(jwt) {
  const [header, payload] = jwt.split(".").slice(0, 2).map(decode);
  return { header, payload };
}

const decode = (part) => JSON.parse(Buffer.from(part, "base64url").toString("utf8"));

// --- verification with sd-jwt-js, as verify.mjs in ../sd-jwt-vc does ----------------------

const DEFAULT_DISCLOSE = { given_name: true, age_equal_or_over: { 18: true } };

async function verify(issuer, credentialText, holder, discloseJson) {
  const disclose =
    typeof discloseJson === "string" ? JSON.parse(discloseJson) : discloseJson ?? DEFAULT_DISCLOSE;
  const metadata = await (await fetch(`${issuer}/.well-known/jwt-vc-issuer`)).json();

  async function verifier(data, signature) {
    const { kid, alg } = decode(data.split(".")[0]);
    const jwk = metadata.jwks.keys.find((key) => key.kid === kid);
    if (!jwk || alg !== "ES256") return false;
    return (await ES256.getVerifier(jwk))(data, signature);
  }
  async function kbVerifier(data, signature, payload) {
    return (await ES256.getVerifier(payload.cnf.jwk))(data, signature);
  }
  const sdjwt = new SDJwtVcInstance({
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
    const { payload, header } = await sdjwt.verify(credentialText);
    report.verified = true;
    report.header = header;
    report.claims = payload;
  } catch (error) {
    report.verified = false;
    report.error = `${error.name}: ${error.message}`;
  }
  report.disclosures = credentialText.split("~").length - 2;

  // The status read with @sd-jwt/jwt-status-list directly, whatever verify() concluded.
  const reference = decode(credentialText.split("~")[0].split(".")[1]).status.status_list;
  const response = await fetch(reference.uri);
  const listJwt = await response.text();
  const [h, p, s] = listJwt.split(".");
  report.status_list = {
    content_type: response.headers.get("content-type"),
    typ: decode(h).typ,
    signature_valid: await verifier(`${h}.${p}`, s),
    sub: decode(p).sub,
    idx: reference.idx,
    status: getListFromStatusListJWT(listJwt).getStatus(reference.idx),
  };

  if (report.verified) {
    const nonce = "nonce-from-the-verifier";
    // "all" in the frame: every element the credential discloses under that claim (an array's
    // elements sit between decoy digests, so their indexes are the credential's own).
    const keys = await sdjwt.presentableKeys(credentialText);
    const expand = (frame, prefix) =>
      Object.fromEntries(
        Object.entries(frame).map(([name, value]) => {
          const path = prefix ? `${prefix}.${name}` : name;
          if (value === "all") {
            const under = keys.filter((key) => key.startsWith(`${path}.`));
            return [name, Object.fromEntries(under.map((key) => [key.slice(path.length + 1), true]))];
          }
          return [name, typeof value === "object" ? expand(value, path) : value];
        }),
      );
    const presentation = await sdjwt.present(credentialText, expand(disclose, ""), {
      kb: {
        payload: { aud: "https://verifier.example", nonce, iat: Math.floor(Date.now() / 1000) },
      },
    });
    const seen = await sdjwt.verify(presentation, { keyBindingNonce: nonce });
    report.presented = seen.payload;
    report.presented_disclosures = presentation.split("~").length - 2;
    report.presentation_bound = Boolean(seen.kb);
  }
  return report;
}

// --- the command line -----------------------------------------------------------------------

function flags(args) {
  const options = {};
  for (let i = 0; i < args.length; i += 2) {
    if (!args[i].startsWith("--")) throw new Error(`unexpected argument ${args[i]}`);
    options[args[i].slice(2)] = args[i + 1];
  }
  return options;
}

const [command, ...args] = process.argv.slice(2);
try {
  if (command === "offer") out(await offer(...args));
  else if (command === "authorize") out(await authorize(...args));
  else if (command === "code") out(await code(...args));
  else if (command === "token") out(await token(args[0]));
  else if (command === "credential") out(await credential(args[0], flags(args.slice(1))));
  else if (command === "verify")
    out(await verify(args[0], args[1], JSON.parse(args[2]), args[3]));
  else throw new Error(`unknown command ${command}`);
} catch (error) {
  out({ crashed: true, ...(await failure(error)), stack: error.stack });
  process.exitCode = 1;
}
