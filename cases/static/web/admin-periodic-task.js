/* The periodic task form of the admin (django-celery-beat): under the crontab field, the
   schedule in words. django-celery-beat's own template runs this inline, which the
   Content-Security-Policy does not allow, so it is a file here
   (reintegration/templates/admin/djcelery/change_periodictask_form.html). */
"use strict";

(function ($) {
  const script = document.getElementById("periodic-task-overrides");
  const readableCrontabs = JSON.parse(document.getElementById("readable-crontabs").textContent);
  const originalCrontabHelp = script.dataset.crontabHelp || "";

  const updateCrontabHelp = function (additional) {
    $(".field-crontab .help")
      .empty()
      .append(document.createTextNode(originalCrontabHelp), "<br>")
      .append(document.createTextNode("Translation: " + additional));
  };

  $(".field-crontab_translation").hide();
  $(".field-crontab").change(function () {
    updateCrontabHelp(readableCrontabs[$("#id_crontab").val()]);
  });
})(django.jQuery);
