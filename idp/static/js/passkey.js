// Passkey ceremonies (WebAuthn) for Tillid's pages: JSON options from the server, base64url
// <-> ArrayBuffer here. Buttons carry data-passkey="login|step-up|register" and their URLs.
(function () {
  'use strict';
  // Texts in the page's language, from <meta name="tillid-messages"> (idp/i18n.py).
  const messages = (() => {
    const meta = document.querySelector('meta[name="tillid-messages"]');
    try { return JSON.parse(meta.content); } catch (error) { return {}; }
  })();
  const text = (key, english) => messages[key] || english;
  const toBuffer = (text) => {
    const base64 = text.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((text.length + 3) % 4);
    return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)).buffer;
  };
  const toText = (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer)))
    .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

  async function post(url, token, body) {
    const response = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRFToken': token },
      body: JSON.stringify(body || {}),
    });
    const answer = await response.json().catch(() => ({}));
    // A sensitive change whose second factor is no longer fresh: confirm it first, then
    // back to this page (the server checks where `next` leads).
    if (response.status === 403 && answer.confirm) {
      const confirm = new URL(answer.confirm, window.location.href);
      confirm.searchParams.set('next', window.location.pathname + window.location.search);
      window.location.assign(confirm.toString());
      return new Promise(() => {});
    }
    if (!response.ok) throw new Error(answer.detail || answer.title || text('requestFailed', 'The request failed.'));
    return answer;
  }

  function assertionJSON(credential) {
    const r = credential.response;
    return {
      id: credential.id, rawId: toText(credential.rawId), type: credential.type,
      response: {
        clientDataJSON: toText(r.clientDataJSON), authenticatorData: toText(r.authenticatorData),
        signature: toText(r.signature), userHandle: r.userHandle ? toText(r.userHandle) : null,
      },
      clientExtensionResults: credential.getClientExtensionResults(),
    };
  }

  function attestationJSON(credential) {
    const r = credential.response;
    return {
      id: credential.id, rawId: toText(credential.rawId), type: credential.type,
      response: {
        clientDataJSON: toText(r.clientDataJSON), attestationObject: toText(r.attestationObject),
        transports: r.getTransports ? r.getTransports() : [],
      },
      clientExtensionResults: credential.getClientExtensionResults(),
    };
  }

  function requestOptions(options) {
    options.challenge = toBuffer(options.challenge);
    (options.allowCredentials || []).forEach((c) => { c.id = toBuffer(c.id); });
    return options;
  }

  const field = (id) => (id ? document.getElementById(id) : null);
  let conditional = null; // the pending autofill request, aborted before a button's own

  async function logIn(button, mediation) {
    const status = document.querySelector(`[data-passkey-status="${button.dataset.passkey}"]`);
    const username = field(button.dataset.usernameField);
    if (conditional) conditional.abort();
    const abort = new AbortController();
    if (mediation === 'conditional') conditional = abort;
    try {
      const options = requestOptions(await post(button.dataset.optionsUrl, button.dataset.csrfToken));
      const credential = await navigator.credentials.get(
        { publicKey: options, signal: abort.signal, ...(mediation ? { mediation } : {}) });
      const result = await post(button.dataset.verifyUrl, button.dataset.csrfToken, {
        credential: assertionJSON(credential), next: button.dataset.next,
        username: username ? username.value : null,
      });
      window.location.assign(result.redirect);
    } catch (error) {
      if (error.name === 'AbortError') return;
      status.textContent = error.name === 'NotAllowedError'
        ? text('passkeyNotUsed', 'The passkey was not used (cancelled, timed out, or not for this site).')
        : error.message;
    }
  }

  async function register(button) {
    const status = document.querySelector(`[data-passkey-status="${button.dataset.passkey}"]`);
    const name = field(button.dataset.nameField);
    try {
      const options = await post(button.dataset.optionsUrl, button.dataset.csrfToken);
      options.challenge = toBuffer(options.challenge);
      options.user.id = toBuffer(options.user.id);
      (options.excludeCredentials || []).forEach((c) => { c.id = toBuffer(c.id); });
      const credential = await navigator.credentials.create({ publicKey: options });
      const result = await post(button.dataset.verifyUrl, button.dataset.csrfToken, {
        credential: attestationJSON(credential), name: name ? name.value : '',
        next: button.dataset.next,
      });
      window.location.assign(result.redirect);
    } catch (error) {
      status.textContent = error.name === 'NotAllowedError'
        ? text('passkeyNotMade', 'No passkey was made (cancelled, timed out, or already registered).')
        : error.message;
    }
  }

  // For the phone app's script: the same conversions and calls, one copy.
  window.TillidWebAuthn = { toBuffer, post, assertionJSON, attestationJSON, requestOptions };

  const supported = typeof window.PublicKeyCredential === 'function';
  document.querySelectorAll('[data-passkey]').forEach((button) => {
    if (!supported) {
      const note = document.querySelector(`[data-passkey-unsupported="${button.dataset.passkey}"]`);
      if (note) note.hidden = false;
      return;
    }
    button.hidden = false;
    button.addEventListener('click', () => (
      button.dataset.passkey === 'register' ? register(button) : logIn(button)));
  });

  // Conditional UI: passkeys offered in the user ID field's autofill (autocomplete="… webauthn").
  const login = document.querySelector('[data-passkey="login"]');
  if (supported && login && PublicKeyCredential.isConditionalMediationAvailable) {
    PublicKeyCredential.isConditionalMediationAvailable().then((available) => {
      if (available) logIn(login, 'conditional');
    });
  }
}());
