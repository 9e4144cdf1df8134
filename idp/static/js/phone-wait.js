// The browser waiting for an approval on the phone: asks every two seconds and continues
// by itself once approved; without JavaScript the citizen presses the button.
(function () {
  'use strict';
  // Texts in the page's language, from <meta name="tillid-messages"> (idp/i18n.py).
  const messages = (() => {
    const meta = document.querySelector('meta[name="tillid-messages"]');
    try { return JSON.parse(meta.content); } catch (error) { return {}; }
  })();
  const text = (key, english) => messages[key] || english;
  const form = document.querySelector('form[data-wait]');
  if (!form) return;
  const status = document.querySelector('[data-wait-status]');
  const timer = setInterval(async () => {
    const response = await fetch(form.dataset.wait, { credentials: 'same-origin' });
    if (!response.ok) return;
    const answer = await response.json();
    if (answer.status === 'approved') {
      clearInterval(timer);
      // A page waiting for something other than a login says what comes next itself.
      status.textContent = form.dataset.approved || text('approvedLoggingIn', 'Approved. Logging you in…');
      form.submit();
    } else if (answer.status !== 'pending') {
      clearInterval(timer);
      window.location.reload(); // the page explains a rejection or expiry
    }
  }, 2000);
}());
