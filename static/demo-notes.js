/*
 * The "Notes" panel of the demo page (static/demo.js sets it up once logged in): shared
 * plain-text documents (/topic/doc/{docId}) edited by everyone who may, at once, through
 * nexus-docs.js and its <textarea> binding. Open two windows and type into the same
 * place: both keep every keystroke. Uses demo-support.js. Plain ES5, no build step.
 */
(function () {
  'use strict';

  function $(id) { return document.getElementById(id); }

  var support = window.NexusDemoSupport;
  var el = support.el;
  var clear = support.clear;
  var logEvent = support.logEvent;

  var STATUS_TEXT = { loading: 'Loading…', saving: 'Saving…', saved: 'Saved', resyncing: 'Reloading…' };

  /** The notes panel of the page whose `page` is {state} (demo.js's). */
  function notesPanel(page) {
    var state = page.state;
    var current = null;  // {doc, binding}

    function open(client, docId) {
      if (current) {
        current.binding.unbind();
        current.doc.close();
        current = null;
      }
      var box = $('notes-text');
      var status = $('notes-status');
      box.value = '';
      var doc = null;
      function showVersion() {
        box.setAttribute('data-version', !doc || doc.version === null ? '' : String(doc.version));
      }
      doc = window.NexusDocs.open(client, docId, {
        onStatus: function (s) {
          status.textContent = STATUS_TEXT[s] || s;
          status.setAttribute('data-status', s);
          showVersion();
        },
        onChange: showVersion,
        onError: function (e) { logEvent('notes: ' + e.message); }
      });
      current = { doc: doc, binding: window.NexusDocs.bindTextarea(doc, box) };
      window.nexusDemoNotes = doc;  // for the console (and the tests)
    }

    function setup(client) {
      var docs = state.user.docs || [];
      var select = $('notes-select');
      clear(select);
      for (var i = 0; i < docs.length; i++) {
        select.appendChild(el('option', { value: docs[i], text: docs[i] }));
      }
      $('notes-none').hidden = docs.length > 0;
      $('notes-text').hidden = docs.length === 0;
      select.hidden = docs.length === 0;
      select.onchange = function () { open(client, select.value); };
      if (docs.length) { open(client, docs[0]); }
    }

    return { setup: setup };
  }

  window.NexusDemoNotes = notesPanel;
}());
