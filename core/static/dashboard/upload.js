// The address-book upload's progress bar: htmx reports the request's upload progress; the bar
// shows it until the server's answer replaces the form's outcome.
document.addEventListener("htmx:xhr:progress", function (event) {
  var form = event.target.closest("form[data-upload]");
  if (!form || !event.detail.lengthComputable) return;
  var bar = form.querySelector("progress");
  bar.hidden = false;
  bar.value = Math.round((event.detail.loaded / event.detail.total) * 100);
});
document.addEventListener("htmx:beforeRequest", function (event) {
  var form = event.target.closest("form[data-upload]");
  if (form) { var bar = form.querySelector("progress"); bar.hidden = false; bar.removeAttribute("value"); }
});
