// The phone app: pairing this phone (a WebAuthn credential with user verification) and
// approving or rejecting a login with it. Uses passkey.js's helpers (loaded first).
(function () {
  'use strict';
  // Texts in the page's language, from <meta name="tillid-messages"> (idp/i18n.py).
  const messages = (() => {
    const meta = document.querySelector('meta[name="tillid-messages"]');
    try { return JSON.parse(meta.content); } catch (error) { return {}; }
  })();
  const text = (key, english) => messages[key] || english;
  const { toBuffer, post, assertionJSON, attestationJSON, requestOptions } = window.TillidWebAuthn;
  const status = document.querySelector('[data-phone-status]');
  const say = (text) => { if (status) status.textContent = text; };
  const supported = typeof window.PublicKeyCredential === 'function';

  const pair = document.querySelector('[data-phone="pair"]');
  if (pair) {
    const token = window.location.hash.slice(1);
    if (!supported) {
      document.querySelector('[data-phone-unsupported]').hidden = false;
    } else if (!token) {
      say(text('openPairingLink', 'Open the pairing link from your computer (scan its QR code).'));
    } else {
      pair.hidden = false;
      pair.addEventListener('click', async () => {
        try {
          const options = await post(pair.dataset.optionsUrl, pair.dataset.csrfToken, { token });
          options.challenge = toBuffer(options.challenge);
          options.user.id = toBuffer(options.user.id);
          (options.excludeCredentials || []).forEach((c) => { c.id = toBuffer(c.id); });
          const credential = await navigator.credentials.create({ publicKey: options });
          const name = document.getElementById('phone-name').value;
          const result = await post(pair.dataset.verifyUrl, pair.dataset.csrfToken,
            { token, name, credential: attestationJSON(credential) });
          window.location.replace(result.redirect); // drops the link's secret from history
        } catch (error) {
          say(error.name === 'NotAllowedError' ? text('phoneNotPaired', 'The phone was not paired (cancelled).') : error.message);
        }
      });
    }
  }

  const app = document.querySelector('[data-phone="app"]');
  if (!app) return;
  const request = document.querySelector('[data-request]');
  const base = request ? app.dataset.requestsUrl + request.dataset.request : null;
  let busy = false; // a fingerprint or face prompt is open
  let answered = false; // the citizen answered the shown request: keep its outcome in view
  async function answer(work) {
    busy = true;
    try { await work(); } finally { busy = false; answered = true; }
  }

  document.querySelectorAll('[data-approve]').forEach((button) => {
    if (!supported) return;
    button.hidden = false;
    button.addEventListener('click', () => answer(async () => {
      const code = button.dataset.code || null;
      try {
        const options = requestOptions(await post(`${base}/options`, app.dataset.csrfToken, { code }));
        const credential = await navigator.credentials.get({ publicKey: options });
        await post(`${base}/approve`, app.dataset.csrfToken, { code, credential: assertionJSON(credential) });
        say(text('phoneApproved', 'Approved. You can go back to your browser.'));
        document.querySelectorAll('[data-approve], [data-reject]').forEach((b) => { b.hidden = true; });
      } catch (error) {
        say(error.name === 'NotAllowedError' ? text('phoneNotApproved', 'Not approved (cancelled).') : error.message);
      }
    }));
  });
  const reject = document.querySelector('[data-reject]');
  if (reject) {
    reject.hidden = false;
    reject.addEventListener('click', () => answer(async () => {
      try {
        await post(`${base}/reject`, app.dataset.csrfToken, {});
        say(text('phoneRejected', 'Rejected. The login is stopped.'));
        document.querySelectorAll('[data-approve], [data-reject]').forEach((b) => { b.hidden = true; });
      } catch (error) { say(error.message); }
    }));
  }

  // Count down, and notice a new request without a reload by hand.
  const left = document.querySelector('[data-seconds-left]');
  if (left) {
    let seconds = Number(left.dataset.secondsLeft);
    setInterval(() => { seconds = Math.max(0, seconds - 1); left.textContent = String(seconds); }, 1000);
  }
  setInterval(async () => {
    if (busy) return;
    const response = await fetch(app.dataset.pendingUrl, { credentials: 'same-origin' });
    if (!response.ok) return;
    const pending = (await response.json()).request || '';
    if (pending === app.dataset.current) return;
    if (answered && !pending) return; // the outcome stays until a new request comes
    window.location.reload();
  }, 3000);
}());
