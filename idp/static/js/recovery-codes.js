// The recovery codes page: Copy and Print. Without a script the codes are plain text on the
// page (select and copy, or the browser's own print) and the download link still works.
(function () {
  'use strict';
  const codes = document.getElementById('recovery-codes');
  const status = document.querySelector('[data-recovery-codes-status]');
  if (!codes || !status) return;
  const text = () => Array.from(codes.querySelectorAll('code'), (code) => code.textContent).join('\n');

  const copy = document.querySelector('[data-recovery-codes="copy"]');
  if (copy && navigator.clipboard && window.isSecureContext) {
    copy.hidden = false;
    copy.addEventListener('click', () => {
      navigator.clipboard.writeText(text() + '\n').then(
        () => { status.textContent = status.dataset.copied; },
        () => { status.textContent = status.dataset.notCopied; },
      );
    });
  }
  const print = document.querySelector('[data-recovery-codes="print"]');
  if (print && typeof window.print === 'function') {
    print.hidden = false;
    print.addEventListener('click', () => window.print());
  }
}());
