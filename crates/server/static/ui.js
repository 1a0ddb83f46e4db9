// Tabs of the class form, and fields that appear only while their switch is on. Without this script every
// panel and field is simply shown, and the server ignores fields whose switch is off.
(function () {
  "use strict";

  function valueOf(form, name) {
    var inputs = form.querySelectorAll('[name="' + name + '"]');
    var value = "";
    inputs.forEach(function (input) {
      if (input.type === "checkbox") {
        if (input.checked) value = input.value;
      } else {
        value = input.value;
      }
    });
    return value;
  }

  function applySwitches(form) {
    form.querySelectorAll("[data-shown-when]").forEach(function (field) {
      var shown = field.dataset.shownWhen.split(";").every(function (condition) {
        var parts = condition.split("=");
        return valueOf(form, parts[0]) === parts[1];
      });
      field.hidden = !shown;
    });
  }

  function selectTab(tabs, tab) {
    tabs.forEach(function (other) {
      var selected = other === tab;
      other.setAttribute("aria-selected", selected ? "true" : "false");
      other.tabIndex = selected ? 0 : -1;
      var panel = document.getElementById(other.getAttribute("aria-controls"));
      if (panel) panel.hidden = !selected;
    });
  }

  function setUpTabs() {
    var list = document.querySelector('[role="tablist"]');
    if (!list) return;
    var tabs = Array.prototype.slice.call(list.querySelectorAll('[role="tab"]'));
    var first = tabs.find(function (tab) { return tab.classList.contains("has-errors"); }) || tabs[0];
    selectTab(tabs, first);
    document.querySelectorAll(".panel-title").forEach(function (title) { title.hidden = true; });
    tabs.forEach(function (tab, index) {
      tab.addEventListener("click", function () { selectTab(tabs, tab); });
      tab.addEventListener("keydown", function (event) {
        var step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
        if (!step) return;
        var next = tabs[(index + step + tabs.length) % tabs.length];
        selectTab(tabs, next);
        next.focus();
        event.preventDefault();
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUpTabs();
    document.querySelectorAll("form").forEach(function (form) {
      if (!form.querySelector("[data-shown-when]")) return;
      applySwitches(form);
      form.addEventListener("change", function () { applySwitches(form); });
    });
  });
})();
