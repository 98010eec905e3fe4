from allauth.mfa.models import Authenticator
from allauth.socialaccount.models import SocialToken
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import BaseUserCreationForm, UserChangeForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext, pgettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline
from unfold.forms import AdminPasswordChangeForm

from accounts import services
from accounts.models import AccessRecoveryRequest, AccountStateChange, ApiKey, Client, Notice, Restriction
from core.admin import CappedCountPaginator, ReadOnlyAdmin, refusal, report
from core.exceptions import RuleRefused


class ClientCreationForm(BaseUserCreationForm):
    class Meta:
        model = Client
        fields = ("email", "name")


class ClientChangeForm(UserChangeForm):
    class Meta:
        model = Client
        fields = "__all__"


class BlockDetailsForm(forms.Form):
    """The block action's reason, end and note."""

    reason = forms.ChoiceField(label=_("Reason"), choices=[("", _("block reason…")), *Client.BlockReason.choices], required=False)
    until = forms.DateTimeField(label=_("Until"), required=False, help_text=_("empty: for good"),
                                widget=forms.DateTimeInput(attrs={"placeholder": _("until YYYY-MM-DD HH:MM")}))
    note = forms.CharField(label=_("Note"), required=False, widget=forms.TextInput(attrs={"placeholder": _("note for the history")}))


class ClientActionForm(ActionForm, BlockDetailsForm):
    """Shows the block details beside the action menu."""


class StateChangeInline(TabularInline):
    model = AccountStateChange
    fk_name = "client"
    extra = 0
    can_delete = False
    fields = ["created_at", "from_status", "to_status", "reason", "until", "actor", "note"]
    readonly_fields = fields
    ordering = ["-created_at"]
    verbose_name_plural = _("state history")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class RestrictionInline(TabularInline):
    """Every restriction the account held or holds (ACC-3), each with who set it and who lifted it."""

    model = Restriction
    fk_name = "client"
    extra = 0
    can_delete = False
    fields = ["kind", "reason", "starts_at", "ends_at", "set_by", "note", "lifted_at", "lifted_by", "lift_note"]
    readonly_fields = fields
    ordering = ["lifted_at", "-starts_at"]  # the ones that hold first

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class ApiKeyInline(TabularInline):
    model = ApiKey
    extra = 0
    can_delete = False
    fields = ["name", "prefix", "rate_limit_per_minute", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Client)
class ClientAdmin(UserAdmin, ModelAdmin):
    change_password_form = AdminPasswordChangeForm
    form = ClientChangeForm
    add_form = ClientCreationForm
    action_form = ClientActionForm
    list_display = ["email", "name", "status", "tariff", "block_reason", "blocked_until", "email_verified_at", "date_joined", "is_staff"]
    list_filter = ["status", "tariff", "block_reason", "is_staff", "date_joined"]
    search_fields = ["email", "name"]
    ordering = ["-date_joined"]
    show_full_result_count = False
    # State, blocks and tariff change only through services (history and audit): read-only here.
    readonly_fields = ["status", "block_reason", "blocked_until", "tariff", "tariff_since", "email_verified_at", "age_confirmed_at", "last_login",
                       "date_joined", "is_active"]
    fieldsets = [
        (None, {"fields": ["email", "name", "password"]}),
        (_("State"), {"fields": ["status", "block_reason", "blocked_until", "tariff", "tariff_since"]}),
        (_("Consents"), {"fields": ["email_verified_at", "age_confirmed_at"]}),
        (_("Staff access"), {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        (_("Dates"), {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "name", "password1", "password2"]})]
    filter_horizontal = ["groups", "user_permissions"]
    inlines = [RestrictionInline, StateChangeInline, ApiKeyInline]
    actions = ["block_clients", "unblock_clients", "turn_off_two_factor"]

    def has_block_permission(self, request) -> bool:
        return request.user.has_perm("accounts.block_client")

    def save_model(self, request, obj, form, change):
        """An edit goes through the service that audits it (CMP-5); a new account is made by the
        admin's own form (the LogEntry of it is audited too). Closing an account is DEA-5's, not a tick box."""
        if not change:
            super().save_model(request, obj, form, change)
            return
        request.staff_roles_before = services.staff_roles_of(obj)
        saved = services.staff_edit_client(client=obj, actor=request.user, email=obj.email, name=obj.name, is_staff=obj.is_staff,
                                           is_superuser=obj.is_superuser)
        obj.email_verified_at = saved.email_verified_at

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if change:
            services.note_staff_roles(client=form.instance, actor=request.user, before=request.staff_roles_before)

    def has_reset_two_factor_permission(self, request) -> bool:
        return request.user.has_perm("accounts.reset_two_factor")

    @admin.action(description=_("Block selected clients (reason, until, note beside)"), permissions=["block"])
    def block_clients(self, request, queryset):
        form = BlockDetailsForm(request.POST)
        if not form.is_valid() or not form.cleaned_data["reason"]:
            self.message_user(request, gettext("Choose a block reason (and an end, or none for good)."), messages.ERROR)
            return
        done, refused = 0, []
        for client in queryset:
            try:
                services.block(client=client, reason=form.cleaned_data["reason"], until=form.cleaned_data["until"], actor=request.user, note=form.cleaned_data["note"])
                done += 1
            except (RuleRefused, ValidationError) as exc:
                refused.append(f"{client}: {refusal(exc)}")
        report(self, request, done, pgettext("admin action outcome", "Blocked"), refused)

    @admin.action(description=_("Lift the selected clients' block for the reason beside (none chosen: every block)"), permissions=["block"])
    def unblock_clients(self, request, queryset):
        form = BlockDetailsForm(request.POST)
        form.is_valid()
        reason = form.cleaned_data.get("reason") or None
        lifted = services.lift_many(list(queryset.values_list("pk", flat=True)), kinds=[Restriction.Kind.BLOCK],
                                    reasons=None if reason is None else [reason], actor=request.user, note=form.cleaned_data.get("note", ""))
        if reason:
            verb = pgettext("admin action outcome", "Lifted the block for %(reason)s of") % {"reason": Client.BlockReason(reason).label.lower()}
        else:
            verb = pgettext("admin action outcome", "Lifted the blocks of")
        report(self, request, len(lifted), verb, [])

    @admin.action(description=_("Turn off two-factor authentication (on the client's request)"), permissions=["reset_two_factor"])
    def turn_off_two_factor(self, request, queryset):
        note = request.POST.get("note", "")
        done = sum(services.turn_off_two_factor(client=client, actor=request.user, note=note) for client in queryset)
        report(self, request, done, pgettext("admin action outcome", "Two-factor authentication turned off"), [])


@admin.register(Restriction)
class RestrictionAdmin(ReadOnlyAdmin):
    list_display = ["client", "kind", "reason", "starts_at", "ends_at", "set_by", "lifted_at"]
    list_filter = ["kind", "reason", ("lifted_at", admin.EmptyFieldListFilter), "starts_at"]
    search_fields = ["client__email", "note", "lift_note"]
    list_select_related = ["client", "set_by"]
    show_full_result_count = False


@admin.register(AccountStateChange)
class AccountStateChangeAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "client", "from_status", "to_status", "reason", "until", "actor"]
    list_filter = ["to_status", "reason"]
    search_fields = ["client__email", "note"]
    list_select_related = ["client", "actor"]
    show_full_result_count = False


@admin.register(Notice)
class NoticeAdmin(ReadOnlyAdmin):
    """What each client was told (NTF-1), for support: read only, found by the client's email."""

    list_display = ["created_at", "client", "kind", "subject", "emailed_at"]
    list_filter = ["kind", ("emailed_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["client__email", "subject", "event"]
    list_select_related = ["client"]
    show_full_result_count = False
    paginator = CappedCountPaginator


@admin.register(ApiKey)
class ApiKeyAdmin(ModelAdmin):
    list_display = ["name", "prefix", "client", "rate_limit_per_minute", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["=prefix", "client__email", "name"]
    list_select_related = ["client"]
    raw_id_fields = ["client"]
    readonly_fields = ["client", "name", "prefix", "digest", "created_at", "last_used_at", "revoked_at"]
    fields = ["client", "name", "prefix", "rate_limit_per_minute", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke_keys"]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False  # keys are made by their clients, who alone see the secret

    def save_model(self, request, obj, form, change):
        services.set_api_key_limit(api_key=obj, limit=obj.rate_limit_per_minute, actor=request.user)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description=_("Revoke selected keys"), permissions=["change"])
    def revoke_keys(self, request, queryset):
        done = 0
        for api_key in queryset.filter(revoked_at__isnull=True):
            services.revoke_api_key(api_key=api_key, actor=request.user)
            done += 1
        report(self, request, done, pgettext("admin action outcome", "Revoked"), [])


@admin.register(AccessRecoveryRequest)
class AccessRecoveryRequestAdmin(ModelAdmin):
    list_display = ["created_at", "account_email", "contact_email", "client", "status", "handled_by", "handled_at"]
    list_filter = ["status", "created_at"]
    search_fields = ["account_email", "contact_email", "client__email"]
    list_select_related = ["client", "handled_by"]
    readonly_fields = ["account_email", "contact_email", "proof", "client", "status", "created_at", "handled_by", "handled_at", "ip"]
    fields = [*readonly_fields, "staff_note"]
    actions = ["approve", "refuse"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_decide_permission(self, request) -> bool:
        return request.user.has_perm("accounts.decide_accessrecoveryrequest")

    def _decide(self, request, queryset, approve: bool):
        done, refused = 0, []
        for recovery in queryset:
            try:
                if approve:
                    services.approve_access_recovery(
                        recovery=recovery, actor=request.user, note=recovery.staff_note, base_url=request.build_absolute_uri("/")
                    )
                else:
                    services.refuse_access_recovery(recovery=recovery, actor=request.user, note=recovery.staff_note)
                done += 1
            except RuleRefused as exc:
                refused.append(f"{recovery}: {refusal(exc)}")
        outcome = pgettext("admin action outcome", "Approved") if approve else pgettext("admin action outcome", "Refused")
        report(self, request, done, outcome, refused)

    @admin.action(description=_("Approve: restore access and mail a password link"), permissions=["decide"])
    def approve(self, request, queryset):
        self._decide(request, queryset, approve=True)

    @admin.action(description=_("Refuse: the proof does not suffice"), permissions=["decide"])
    def refuse(self, request, queryset):
        self._decide(request, queryset, approve=False)


# allauth's own admins show the second factor's secret and the social sign-in tokens, editable:
# staff see that a factor or a linked account exists, and remove a factor only through the
# audited action on the client (ToU 6.3, 6.4).
admin.site.unregister(Authenticator)
admin.site.unregister(SocialToken)


@admin.register(Authenticator)
class AuthenticatorAdmin(ReadOnlyAdmin):
    list_display = ["user", "type", "created_at", "last_used_at"]
    list_filter = ["type"]
    search_fields = ["user__email"]
    fields = ["user", "type", "created_at", "last_used_at"]
    list_select_related = ["user"]
