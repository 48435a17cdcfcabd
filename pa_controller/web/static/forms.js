// A form that takes a while (composing a programme, sending a broadcast now) says so, and is not sent twice.
document.addEventListener("submit", function (event) {
  var form = event.target;
  var busy = form.getAttribute("data-busy");
  if (!busy) return;
  if (form.dataset.sent) { event.preventDefault(); return; }
  form.dataset.sent = "1";
  var note = document.createElement("p");
  note.className = "flash busy";
  note.setAttribute("role", "status");
  note.textContent = busy;
  form.appendChild(note);
});
