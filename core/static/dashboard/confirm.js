// Forms that ask first (data-confirm="question"): the question in the browser's own dialog, and
// nothing sent unless accepted. A script of ours rather than an onsubmit attribute: the
// Content-Security-Policy runs no inline code (issue 17, item 6). Capturing, so that it asks
// before any other listener (htmx) acts on the submission.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!form.matches || !form.matches("form[data-confirm]")) return;
  if (!window.confirm(form.getAttribute("data-confirm"))) {
    event.preventDefault();
    event.stopImmediatePropagation();
  }
}, true);
