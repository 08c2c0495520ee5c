from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "cases"
    verbose_name = "Reintegration cases"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Sign-in events go into the audit log; disabling an account ends its sessions.
        from axes.signals import user_locked_out
        from django.contrib.auth import get_user_model
        from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
        from django.db.models.signals import post_save, pre_save

        from cases.services import accounts

        uid = "cases.services.accounts"
        user_logged_in.connect(accounts.on_user_logged_in, dispatch_uid=f"{uid}.logged_in")
        user_logged_out.connect(accounts.on_user_logged_out, dispatch_uid=f"{uid}.logged_out")
        user_login_failed.connect(accounts.on_user_login_failed, dispatch_uid=f"{uid}.failed")
        user_locked_out.connect(accounts.on_user_locked_out, dispatch_uid=f"{uid}.locked_out")
        user_model = get_user_model()
        pre_save.connect(accounts.on_user_pre_save, sender=user_model, dispatch_uid=f"{uid}.pre")
        post_save.connect(accounts.on_user_post_save, sender=user_model, dispatch_uid=f"{uid}.post")
