/* Click-to-call on the ticket page (web/templates/calls/_call_button.html).
 *
 * Sends the form in the background and shows the outcome next to the button. The form's
 * call_key is the idempotency key: the server dials once per key. After an answer the
 * server hands a fresh key for the next call; after a lost answer (network) the key is
 * kept, so pressing again asks about the same call instead of dialling a second time.
 */
(function () {
  "use strict";

  function bind(form) {
    if (form.dataset.bound) { return; }
    form.dataset.bound = "1";
    var button = form.querySelector("button");
    var status = form.querySelector(".call-status");
    var busy = false;

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (busy) { return; }
      busy = true;
      button.disabled = true;
      status.className = "call-status call-pending";
      status.textContent = "Набираем… Сначала зазвонит ваш телефон — снимите трубку.";
      fetch(form.action, {
        method: "POST", body: new FormData(form), credentials: "same-origin",
        headers: {"Accept": "application/json"}
      }).then(function (response) {
        return response.json().then(function (body) { return {ok: response.ok, body: body}; });
      }).then(function (answer) {
        status.className = "call-status " + (answer.ok ? "call-done call-" + answer.body.outcome : "call-error");
        status.textContent = answer.body.message;
        if (answer.body.next_key) { form.elements.call_key.value = answer.body.next_key; }
      }).catch(function () {
        status.className = "call-status call-error";
        status.textContent = "Нет ответа сервера: неизвестно, состоялся ли звонок. Повторное нажатие не наберёт номер дважды.";
      }).then(function () {
        busy = false;
        button.disabled = false;
      });
    });
  }

  document.querySelectorAll('form[data-telephony="call"]').forEach(bind);
}());
