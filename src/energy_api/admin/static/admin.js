// The admin's own script (served from /admin/assets/, no inline code: the CSP allows none).
// sqladmin's delete button sends a DELETE with jQuery: it carries the session's CSRF token.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta && window.jQuery) {
    window.jQuery.ajaxSetup({ headers: { "X-CSRF-Token": meta.getAttribute("content") } });
  }
})();
