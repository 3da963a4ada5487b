/* The staff console's script. The CSP allows no inline script or style: everything the
   pages do in the browser is here, wired by data attributes of the templates.

   (a) Live pages: a page with data-live-url (the queue, a chat, the ticket list, a
       ticket) listens to its event stream (/staff/queue/live?version=...,
       /staff/tickets/live?version=...) and, on "changed", fetches itself again and swaps
       its [data-live] regions: "always" ones at once, "idle" ones (the forms) only while
       nothing is being typed in them.
   (b) Drafts: what is typed in a chat's or a ticket's forms (form[data-draft] textareas;
       data-chat names the page: a chat's id, "ticket-<id>") is kept in sessionStorage,
       per page and field, and restored when the page loads. It is
       cleared only once a sent form came back to its chat without a notice (done): when
       the session ended in the middle of typing, the form lands on the login page, and
       after logging in again the chat shows the text again.
   (c) A policy answer, fetched in the user's language, goes into the reply textarea.
*/
(function () {
  "use strict";

  var DRAFT = "expatbot.staff.draft:";
  var PENDING = "expatbot.staff.pending";

  var page = document.querySelector("[data-live-url]");
  var chat = page ? page.getAttribute("data-chat") : null;
  var staleRegions = false;

  function storage() {
    try {
      return window.sessionStorage;
    } catch (e) {
      return null; // storage disabled: the console works, without drafts
    }
  }

  // (b) Drafts ---------------------------------------------------------------------

  function draftKey(field) {
    return DRAFT + chat + ":" + field.form.getAttribute("data-draft") + ":" + field.name;
  }

  function isDraftField(node) {
    return (
      chat !== null &&
      node instanceof HTMLTextAreaElement &&
      node.name !== "" &&
      node.form !== null &&
      node.form.hasAttribute("data-draft")
    );
  }

  function saveDraft(field) {
    var store = storage();
    if (!store) return;
    try {
      if (field.value) store.setItem(draftKey(field), field.value);
      else store.removeItem(draftKey(field));
    } catch (e) {
      // full or refused: the text stays in the page at least
    }
  }

  function restoreDrafts(root) {
    var store = storage();
    if (!store || chat === null) return;
    var fields = root.querySelectorAll("form[data-draft] textarea[name]");
    Array.prototype.forEach.call(fields, function (field) {
      var saved = store.getItem(draftKey(field));
      if (saved && !field.value) field.value = saved;
    });
  }

  function settleSentForms() {
    var store = storage();
    if (!store) return;
    var sent = [];
    try {
      sent = JSON.parse(store.getItem(PENDING) || "[]");
    } catch (e) {
      sent = [];
    }
    store.removeItem(PENDING);
    // Back on the chat without a notice: what was sent is done, its drafts go. On any
    // other page (the login page, an error page) or with a notice (refused), they stay.
    if (chat === null || new URLSearchParams(window.location.search).has("notice")) return;
    if (!Array.isArray(sent)) return;
    sent.forEach(function (key) {
      if (typeof key === "string" && key.indexOf(DRAFT + chat + ":") === 0) {
        store.removeItem(key);
      }
    });
  }

  function rememberSent(form) {
    var store = storage();
    if (!store) return;
    var keys = [];
    Array.prototype.forEach.call(form.querySelectorAll("textarea[name]"), function (field) {
      saveDraft(field);
      keys.push(draftKey(field));
    });
    try {
      store.setItem(PENDING, JSON.stringify(keys));
    } catch (e) {
      // nothing more to do
    }
  }

  document.addEventListener("input", function (event) {
    if (isDraftField(event.target)) saveDraft(event.target);
  });

  // (c) A policy answer into the reply ---------------------------------------------

  function insertAnswer(form) {
    var select = form.querySelector("select[name=topic]");
    var status = form.querySelector(".status");
    var target = document.getElementById(form.getAttribute("data-target") || "");
    if (!select || !(target instanceof HTMLTextAreaElement)) return;
    var say = function (text) {
      if (status) status.textContent = text;
    };
    var url = form.getAttribute("action") + "?topic=" + encodeURIComponent(select.value);
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (resp) {
        if (!resp.ok) throw new Error("HTTP " + resp.status);
        return resp.json();
      })
      .then(function (answer) {
        var text = String(answer.text || "");
        var before = target.value.replace(/\s+$/, "");
        target.value = before ? before + "\n\n" + text : text;
        saveDraft(target);
        target.focus();
        var wanted = form.getAttribute("data-language");
        if (answer.language && answer.language !== wanted) {
          say((form.getAttribute("data-msg-other") || "").replace("%(language)s", answer.language));
        } else {
          say("");
        }
      })
      .catch(function () {
        say(form.getAttribute("data-msg-failed") || "");
      });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    if (form.classList.contains("insert-answer")) {
      event.preventDefault();
      insertAnswer(form);
      return;
    }
    if (chat !== null && form.hasAttribute("data-draft")) rememberSent(form);
  });

  // (a) Live pages -----------------------------------------------------------------

  function busy(region) {
    var active = document.activeElement;
    if (active && active !== document.body && region.contains(active)) return true;
    return Array.prototype.some.call(region.querySelectorAll("textarea"), function (field) {
      return field.value.trim() !== "";
    });
  }

  function swap(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    // Not the same page (the login page: the session ended): leave this one as it is,
    // the next action says so.
    if (!doc.querySelector("[data-live-url]")) return;
    var stale = false;
    Array.prototype.forEach.call(document.querySelectorAll("[data-live][id]"), function (old) {
      var fresh = doc.getElementById(old.id);
      if (!fresh) return;
      if (old.getAttribute("data-live") === "idle" && busy(old)) {
        stale = true;
        return;
      }
      old.replaceWith(document.importNode(fresh, true));
    });
    staleRegions = stale;
    restoreDrafts(document);
  }

  var loading = false;
  var again = false;

  function refresh() {
    if (loading) {
      again = true;
      return;
    }
    loading = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (resp) {
        return resp.ok ? resp.text() : null;
      })
      .then(function (html) {
        if (html) swap(html);
      })
      .catch(function () {
        // offline for a moment: the stream reconnects and says "changed" again
      })
      .then(function () {
        loading = false;
        if (again) {
          again = false;
          refresh();
        }
      });
  }

  document.addEventListener("focusout", function () {
    if (!staleRegions) return;
    window.setTimeout(function () {
      if (staleRegions) refresh();
    }, 0);
  });

  settleSentForms();
  restoreDrafts(document);

  if (page && window.EventSource) {
    var source = new EventSource(page.getAttribute("data-live-url"));
    source.addEventListener("changed", refresh);
  }
})();
