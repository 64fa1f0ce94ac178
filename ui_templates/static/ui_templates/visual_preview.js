/*
 * The template editor's visual preview (docs/web-client.md, "Visual preview in the admin").
 *
 * Two iframes of the web client in preview mode (/?preview=<template pk>&user=<demo user>&side=...),
 * the draft beside the published screen, drawn by the same renderer as the customers' home screen.
 * While the marketer edits, the draft field is read every second; when it changed and is valid
 * JSON, the tree is sent to the draft iframe (postMessage, same origin), which asks the server to
 * render it (POST to the admin's preview) without saving it.
 */
(function () {
  "use strict";
  var panel = document.getElementById("hs-visual-preview");
  if (!panel) return;
  var template = panel.getAttribute("data-template");
  var select = panel.querySelector("select[name=preview_user]");
  var frames = panel.querySelectorAll("iframe[data-side]");
  var note = panel.querySelector("[data-preview-note]");
  var form = document.querySelector("#content-main form");
  var field = function () {
    return form ? form.querySelector("[name=draft_tree]") : null;
  };
  var editor = function () {
    var marker = form ? form.querySelector("[name=draft_tree_editor]") : null;
    return marker ? marker.value : "raw";
  };
  var initial = field() ? field().value : null;
  var sent = null;

  function draftFrame() {
    for (var i = 0; i < frames.length; i++) if (frames[i].getAttribute("data-side") === "draft") return frames[i];
    return null;
  }

  function load() {
    var user = select ? select.value : "";
    for (var i = 0; i < frames.length; i++) {
      var side = frames[i].getAttribute("data-side");
      frames[i].src = "/?preview=" + encodeURIComponent(template) + "&user=" + encodeURIComponent(user) + "&side=" + side;
    }
    sent = null;
  }

  function push(force) {
    var input = field();
    var frame = draftFrame();
    if (!input || !frame || !frame.contentWindow) return;
    var value = input.value;
    if (value === initial && sent === null && !force) return; // the saved draft: the iframe shows it already
    if (value === sent && !force) return;
    var tree;
    try {
      tree = JSON.parse(value);
    } catch (e) {
      if (note) note.textContent = "The draft is not valid JSON yet; the preview shows the last valid one.";
      return;
    }
    if (note) note.textContent = value === initial ? "" : "Showing your unsaved changes.";
    sent = value;
    frame.contentWindow.postMessage({ type: "homeservice.preview", tree: tree, editor: editor() }, window.location.origin);
  }

  if (select) select.addEventListener("change", load);
  var draft = draftFrame();
  if (draft) {
    draft.addEventListener("load", function () {
      // A fresh frame shows the saved draft; send it the edits made so far.
      if (field() && field().value !== initial) window.setTimeout(function () { push(true); }, 300);
    });
  }
  window.setInterval(function () { push(false); }, 1000);
  load();
})();
