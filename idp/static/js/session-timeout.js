// The warning before a logged-in session times out (WCAG 2.2.1). The page's
// <dialog data-session-timeout> carries the session's idle and absolute deadlines (server
// time) and its texts; this opens it before the first deadline, extends an idle session
// ("Stay logged in" POSTs to the keep-alive endpoint), and says when the session has ended.
// Other tabs of the same site share what they learn through localStorage.
(function () {
  'use strict';
  const dialog = document.querySelector('dialog[data-session-timeout]');
  if (!dialog || typeof dialog.showModal !== 'function') return;

  const data = dialog.dataset;
  const part = (name) => dialog.querySelector(`[data-${name}]`);
  const title = part('title');
  const countdown = part('countdown');
  const reason = part('reason');
  const stay = part('stay');
  const logout = part('logout');
  const loginAgain = part('login-again');
  const close = part('close');
  const SHARED = 'tillid.session-deadlines';
  const warnBefore = Number(data.warnBefore);
  const nowSeconds = () => Date.now() / 1000;

  // Deadlines on this browser's clock: the server's, moved by the difference of the clocks.
  let idleEnd;
  let absoluteEnd;
  function adopt(answer) {
    const offset = nowSeconds() - Number(answer.now);
    idleEnd = Number(answer.idle_expires_at) + offset;
    absoluteEnd = Number(answer.absolute_expires_at) + offset;
  }
  adopt({ now: data.serverNow, idle_expires_at: data.idleExpiresAt,
          absolute_expires_at: data.absoluteExpiresAt });

  function share() {
    try {
      localStorage.setItem(SHARED, JSON.stringify({ idle: idleEnd, absolute: absoluteEnd }));
    } catch (error) { /* storage may be off: each tab then keeps its own count */ }
  }
  share();
  window.addEventListener('storage', (event) => {
    if (event.key !== SHARED || !event.newValue || state === 'ended') return;
    const seen = JSON.parse(event.newValue);
    // Another tab loaded a page or stayed logged in: the session lives longer than we knew.
    if (seen.idle > idleEnd) { idleEnd = seen.idle; absoluteEnd = seen.absolute; tick(); }
  });

  let state = 'quiet'; // quiet | warning | dismissed | ended
  let shownMinutes = null;
  let returnFocus = null;

  const show = (element, visible) => { element.hidden = !visible; };

  function open(focusTarget) {
    if (!dialog.open) {
      returnFocus = document.activeElement;
      dialog.showModal();
    }
    focusTarget.focus();
  }

  function shut() {
    if (dialog.open) dialog.close();
    if (returnFocus && typeof returnFocus.focus === 'function') returnFocus.focus();
    returnFocus = null;
  }

  function endsBy() {
    return absoluteEnd <= idleEnd ? 'absolute' : 'idle';
  }

  function warn(secondsLeft) {
    const minutes = Math.max(1, Math.ceil(secondsLeft / 60));
    if (minutes !== shownMinutes) {
      shownMinutes = minutes;
      countdown.textContent = minutes === 1
        ? data.textOneMinute : data.textMinutes.replace('{n}', String(minutes));
    }
    if (state === 'warning') return;
    state = 'warning';
    const absolute = endsBy() === 'absolute';
    title.textContent = data.textTitle;
    reason.textContent = absolute ? data.textAbsolute : data.textIdle;
    show(stay, !absolute);
    show(logout, !absolute);
    show(loginAgain, absolute);
    show(close, absolute);
    open(absolute ? loginAgain : stay);
  }

  function ended(text) {
    if (state === 'ended') return;
    state = 'ended';
    window.clearInterval(timer);
    title.textContent = data.textEndedTitle;
    countdown.textContent = '';
    reason.textContent = text || (endsBy() === 'absolute' ? data.textEndedAbsolute : data.textEndedIdle);
    show(stay, false);
    show(logout, false);
    show(close, false);
    show(loginAgain, true);
    document.body.classList.add('session-ended');
    open(loginAgain);
  }

  function tick() {
    if (state === 'ended') return;
    const left = Math.min(idleEnd, absoluteEnd) - nowSeconds();
    if (left <= 0) {
      ended();
    } else if (left <= warnBefore) {
      if (state !== 'dismissed') warn(left);
    } else if (state !== 'quiet') {
      state = 'quiet';
      shownMinutes = null;
      shut();
    }
  }

  stay.addEventListener('click', async () => {
    stay.disabled = true;
    try {
      const response = await fetch(data.keepAliveUrl, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { Accept: 'application/json', 'X-CSRFToken': data.csrfToken },
      });
      if (!response.ok) throw new Error(String(response.status));
      adopt(await response.json());
      share();
      state = 'quiet';
      shownMinutes = null;
      shut();
    } catch (error) {
      ended(data.textFailed);
    } finally {
      stay.disabled = false;
    }
  });

  close.addEventListener('click', () => {
    state = 'dismissed';
    shut();
  });

  // Escape closes a modal dialog: the citizen has seen the warning; the end still shows.
  dialog.addEventListener('cancel', (event) => {
    if (state === 'ended') { event.preventDefault(); return; }
    state = 'dismissed';
  });

  const timer = window.setInterval(tick, 1000);
  tick();
})();
