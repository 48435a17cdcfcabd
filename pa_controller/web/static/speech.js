// "Nghe thử": hear the text as the loudspeakers will play it, and see how its numbers and dates are read, before
// saving it. The preview plays from a blob: URL, which the page's CSP allows as media. Without this script the button still works: the browser opens the MP3 itself.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("speech-form");
  if (!form) return;
  var button = form.querySelector("[data-preview]");
  var status = document.getElementById("speech-status");
  var result = document.getElementById("speech-result");
  var reading = document.getElementById("speech-reading");
  var player = document.getElementById("speech-player");
  button.addEventListener("click", function (event) {
    event.preventDefault();
    if (!form.reportValidity()) return;
    button.disabled = true;
    status.textContent = button.getAttribute("data-busy");
    fetch(button.getAttribute("formaction"), {method: "POST", body: new FormData(form), credentials: "same-origin"})
      .then(function (answer) {
        if (!answer.ok) {
          var plain = (answer.headers.get("Content-Type") || "").indexOf("text/plain") === 0;
          return answer.text().then(function (message) {
            throw new Error(plain ? message : button.getAttribute("data-failed"));
          });
        }
        reading.textContent = decodeURIComponent(answer.headers.get("X-Speech-Reading") || "");
        return answer.blob();
      })
      .then(function (mp3) {
        if (player.src) URL.revokeObjectURL(player.src);
        player.src = URL.createObjectURL(mp3);
        result.hidden = false;
        status.textContent = "";
        var playing = player.play();
        if (playing) playing.catch(function () {});  // a browser that will not start it on its own: press play
      })
      .catch(function (error) { status.textContent = error.message; })
      .then(function () { button.disabled = false; });
  });
});
