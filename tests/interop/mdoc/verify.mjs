// A wallet and a verifier built from the OpenWallet Foundation's mdoc-ts (@owf/mdoc): given
// Tillid's issuer URL, a PID mdoc as OpenID4VCI delivers it (base64url IssuerSigned) and the
// wallet's private key, it
//  - verifies the IssuerSigned as a wallet does on receipt (Holder.verifyIssuerSigned: the
//    x5chain certificate, the issuer signature over the MSO, the validity period, every value
//    digest, issuing_country against the certificate), trusting the certificate only when its
//    key is one Tillid publishes at /.well-known/jwt-vc-issuer (Tillid's certificate is
//    self-signed: there is no IACA to chain to);
//  - reads the MSO (docType, digest algorithm, device key, status reference) and the elements;
//  - fetches the Token Status List the MSO points to and reads the credential's bit with
//    @sd-jwt/jwt-status-list, its signature checked against the published key;
//  - presents two elements in an ISO 18013-5 DeviceResponse signed with the wallet key
//    (OpenID4VP session transcript) and verifies it as a relying party does
//    (Verifier.verifyDeviceResponse): the device signature must match the MSO's device key;
//    and the same with another key, which must fail.
// mdoc-ts takes its cryptography from the caller (MdocContext): here Node's own crypto.
// Prints one JSON line: what it found.
//   node verify.mjs ISSUER CREDENTIAL HOLDER_PRIVATE_JWK
import crypto, { X509Certificate } from "node:crypto";
import {
  CoseKey,
  DeviceRequest,
  DocRequest,
  Holder,
  IssuerSigned,
  ItemsRequest,
  SessionTranscript,
  Verifier,
} from "@owf/mdoc";
import { getListFromStatusListJWT } from "@sd-jwt/jwt-status-list";

const [issuer, credential, holderJwk] = process.argv.slice(2);
const NAMESPACE = "eu.europa.ec.eudi.pid.1";

const clean = (jwk) => JSON.parse(JSON.stringify(jwk)); // CoseKey.jwk has undefined members
const HASHES = { "P-256": "sha256", "P-384": "sha384", "P-521": "sha512" };
const hashFor = (jwk) => (jwk.kty === "OKP" ? null : HASHES[jwk.crv]);

function nameField(name, field) {
  return name
    .split("\n")
    .map((line) => line.split("="))
    .filter(([key]) => key === field)
    .map(([, ...value]) => value.join("="));
}

function checkValidity(cert, now) {
  if (new Date(cert.validFrom) > now || new Date(cert.validTo) < now) {
    throw new Error(`certificate ${cert.subject} is not valid at ${now.toISOString()}`);
  }
}

const context = {
  crypto: {
    random: (length) => crypto.getRandomValues(new Uint8Array(length)),
    digest: async ({ digestAlgorithm, bytes }) =>
      new Uint8Array(await crypto.subtle.digest(digestAlgorithm, bytes)),
    calculateEphemeralMacKey: () => {
      throw new Error("MAC device authentication is not used here");
    },
  },
  cose: {
    sign1: {
      sign: ({ toBeSigned, key }) => {
        const jwk = clean(key.jwk);
        return new Uint8Array(
          crypto.sign(hashFor(jwk), toBeSigned, {
            key: jwk,
            format: "jwk",
            dsaEncoding: "ieee-p1363",
          }),
        );
      },
      verify: ({ key, sign1 }) => {
        const jwk = clean(key.jwk);
        delete jwk.d;
        return crypto.verify(
          hashFor(jwk),
          sign1.toBeSigned,
          { key: jwk, format: "jwk", dsaEncoding: "ieee-p1363" },
          sign1.signature,
        );
      },
    },
    mac0: {
      sign: () => {
        throw new Error("MAC device authentication is not used here");
      },
      verify: () => {
        throw new Error("MAC device authentication is not used here");
      },
    },
  },
  x509: {
    getIssuerNameField: ({ certificate, field }) =>
      nameField(new X509Certificate(certificate).issuer, field),
    getPublicKey: ({ certificate }) =>
      CoseKey.fromJwk(new X509Certificate(certificate).publicKey.export({ format: "jwk" })),
    // The chain from the leaf to a trusted certificate: each certificate issued by the next
    // (name and signature) and valid now.
    verifyCertificateChain: ({ trustedCertificates, x5chain, now = new Date() }) => {
      const anchors = trustedCertificates.map((der) => new X509Certificate(der));
      const pool = x5chain.slice(1).map((der) => new X509Certificate(der));
      let cert = new X509Certificate(x5chain[0]);
      for (let depth = 0; depth <= x5chain.length; depth++) {
        checkValidity(cert, now);
        if (anchors.some((anchor) => anchor.raw.equals(cert.raw))) return;
        const issuedBy = (candidate) =>
          cert.checkIssued(candidate) && cert.verify(candidate.publicKey);
        const anchor = anchors.find(issuedBy);
        if (anchor) return checkValidity(anchor, now);
        const next = pool.find(issuedBy);
        if (!next) break;
        cert = next;
      }
      throw new Error("the certificate chain does not lead to a trusted certificate");
    },
    getCertificateData: ({ certificate }) => {
      const cert = new X509Certificate(certificate);
      return {
        issuerName: cert.issuer,
        subjectName: cert.subject,
        serialNumber: cert.serialNumber,
        thumbprint: cert.fingerprint256.replaceAll(":", "").toLowerCase(),
        notBefore: new Date(cert.validFrom),
        notAfter: new Date(cert.validTo),
        pem: cert.toString(),
      };
    },
  },
};

// The ISSUER_AUTH and DATA_INTEGRITY checks mdoc-ts makes, collected rather than thrown.
function collector() {
  const checks = [];
  return { checks, callback: (item) => checks.push(item) };
}
const failed = (checks) => checks.filter((item) => item.status === "FAILED");

const plain = (value) => {
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [k, plain(v)]));
  if (Array.isArray(value)) return value.map(plain);
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64url");
  if (value && typeof value === "object" && !(value instanceof Date)) return String(value);
  return value;
};

const metadata = await (await fetch(`${issuer}/.well-known/jwt-vc-issuer`)).json();
const report = { metadata_issuer: metadata.issuer };

const issuerSigned = IssuerSigned.fromEncodedForOid4Vci(credential);
const issuerAuth = issuerSigned.issuerAuth;
const certificate = new X509Certificate(issuerAuth.certificate);
const certKey = certificate.publicKey.export({ format: "jwk" });
const published = metadata.jwks.keys.find(
  (key) => key.kty === "EC" && key.crv === certKey.crv && key.x === certKey.x && key.y === certKey.y,
);
report.certificate = {
  subject: certificate.subject,
  // (checkIssued would say no: a document signer's key may not sign certificates)
  self_signed:
    certificate.subject === certificate.issuer && certificate.verify(certificate.publicKey),
  key_published_as: published?.kid ?? null,
};
const trustedCertificates = published ? [new Uint8Array(certificate.raw)] : [];

const onReceipt = collector();
try {
  await Holder.verifyIssuerSigned(
    { issuerSigned: credential, trustedCertificates, verificationCallback: onReceipt.callback },
    context,
  );
  report.verified = failed(onReceipt.checks).length === 0;
} catch (error) {
  report.verified = false;
  report.error = `${error.name}: ${error.message}`;
}
report.failed_checks = failed(onReceipt.checks);
report.checks_passed = onReceipt.checks.filter((item) => item.status === "PASSED").length;

const mso = issuerAuth.mobileSecurityObject;
report.mso = {
  version: mso.version,
  docType: mso.docType,
  digestAlgorithm: mso.digestAlgorithm,
  validFrom: mso.validityInfo.validFrom.toISOString(),
  validUntil: mso.validityInfo.validUntil.toISOString(),
  signed: mso.validityInfo.signed.toISOString(),
  deviceKey: clean(mso.deviceKeyInfo.deviceKey.jwk),
  status: plain(mso.structure?.get?.("status") ?? mso.decodedStructure?.get?.("status")),
  protectedAlg: issuerAuth.signatureAlgorithmName,
};
report.namespaces = issuerSigned.issuerNamespaces.issuerNamespaces.size;
report.elements = plain(new Map(Object.entries(issuerSigned.getPrettyClaims(NAMESPACE))));

// The Token Status List the MSO points to.
const reference = report.mso.status?.status_list;
if (reference) {
  const response = await fetch(reference.uri);
  const listJwt = await response.text();
  const [header, payload, signature] = listJwt.split(".");
  const { kid } = JSON.parse(Buffer.from(header, "base64url"));
  const key = metadata.jwks.keys.find((candidate) => candidate.kid === kid);
  report.status_list = {
    content_type: response.headers.get("content-type"),
    signature_valid: Boolean(key) && crypto.verify(
      "sha256",
      Buffer.from(`${header}.${payload}`),
      { key, format: "jwk", dsaEncoding: "ieee-p1363" },
      Buffer.from(signature, "base64url"),
    ),
    sub: JSON.parse(Buffer.from(payload, "base64url")).sub,
    status: getListFromStatusListJWT(listJwt).getStatus(reference.idx),
  };
}

// A presentation: the wallet signs a DeviceResponse with its key; the relying party checks it.
async function present(signingJwk) {
  const deviceRequest = DeviceRequest.create({
    docRequests: [
      DocRequest.create({
        itemsRequest: ItemsRequest.create({
          docType: mso.docType,
          namespaces: new Map([[NAMESPACE, new Map([["given_name", false], ["age_over_18", false]])]]),
        }),
      }),
    ],
  });
  const sessionTranscript = await SessionTranscript.forOid4Vp(
    {
      clientId: "x509_san_dns:verifier.example",
      responseUri: "https://verifier.example/response",
      nonce: "nonce-from-the-verifier",
    },
    context,
  );
  const deviceResponse = await Holder.createDeviceResponseForDeviceRequest(
    {
      deviceRequest,
      sessionTranscript,
      issuerSigned: [IssuerSigned.fromEncodedForOid4Vci(credential)],
      signature: { signingKey: CoseKey.fromJwk(signingJwk) },
    },
    context,
  );
  const seen = collector();
  try {
    await Verifier.verifyDeviceResponse(
      {
        deviceRequest,
        deviceResponse: deviceResponse.encode(),
        sessionTranscript,
        trustedCertificates,
        onCheck: seen.callback,
      },
      context,
    );
  } catch (error) {
    seen.checks.push({ status: "FAILED", check: `${error.name}: ${error.message}` });
  }
  const [document] = deviceResponse.documents;
  return {
    verified: failed(seen.checks).length === 0,
    failed_checks: failed(seen.checks).map((item) => `${item.category ?? ""} ${item.check}`),
    disclosed: plain(new Map(Object.entries(document.issuerSigned.getPrettyClaims(NAMESPACE)))),
  };
}

if (report.verified) {
  report.presentation = await present(JSON.parse(holderJwk));
  const other = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
  report.presentation_other_key = await present(other.privateKey.export({ format: "jwk" }));
}

console.log(JSON.stringify(report));
