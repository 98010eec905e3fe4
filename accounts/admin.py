from allauth.mfa.models import Authenticator
from allauth.socialaccount.models import SocialToken
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import BaseUserCreationForm, UserChangeForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext, ngettext, pgettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.forms import AdminPasswordChangeForm

from accounts import services
from accounts.admin_panels import moment, panels_for
from accounts.models import AccessRecoveryRequest, AccountStateChange, ApiKey, Client, Notice, Restriction
from accounts.selectors import holding_restrictions
from core.admin import CappedCountPaginator, ReadOnlyAdmin, ReasonForm, confirmation, confirmed, refusal, report
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
    """The block action's reason, end and note, beside the action menu: they fill its confirmation page."""

    reason = forms.ChoiceField(label=_("Reason"), choices=[("", _("block reason…")), *Client.BlockReason.choices], required=False)
    until = forms.DateTimeField(label=_("Until"), required=False, help_text=_("empty: for good"),
                                widget=forms.DateTimeInput(attrs={"placeholder": _("until YYYY-MM-DD HH:MM")}))
    note = forms.CharField(label=_("Note"), required=False, widget=forms.TextInput(attrs={"placeholder": _("note for the history")}))


class ClientActionForm(ActionForm, BlockDetailsForm):
    """Shows the block details beside the action menu."""


def _written_reason(value: str) -> str:
    """The why staff write for the history and the audit log (ACC-3): core's reason rules."""
    checked = ReasonForm({"reason": value})
    if not checked.is_valid():
        raise ValidationError(checked.errors["reason"])
    return checked.cleaned_data["reason"]


FIELD_CLASSES = "border border-base-200 rounded-default w-full p-2 bg-white dark:bg-base-900 dark:border-base-800"


class StyledForm(forms.Form):
    """A confirmation page's fields, drawn like the theme's (full width: readable on a phone)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for bound in self.fields.values():
            bound.widget.attrs.setdefault("class", FIELD_CLASSES)


class BlockForm(StyledForm):
    """Confirming a block (ACC-3): its reason, its end (none: for good) and why, for the history."""

    reason = forms.ChoiceField(label=_("Block reason"), choices=[("", _("Choose a block reason…")), *Client.BlockReason.choices],
                               error_messages={"required": _("Choose a block reason (and an end, or none for good).")})
    until = forms.DateTimeField(label=_("Until (empty: for good)"), required=False,
                                widget=forms.DateTimeInput(attrs={"placeholder": "YYYY-MM-DD HH:MM"}))
    note = forms.CharField(label=_("Why (kept in the history and the audit log)"), max_length=500, widget=forms.Textarea(attrs={"rows": 3}),
                           error_messages={"required": _("Give a reason (plain text).")})

    def clean_note(self) -> str:
        return _written_reason(self.cleaned_data["note"])


class TwoFactorOffForm(StyledForm):
    """Confirming that staff turn off a client's second factors: on the client's request, and why
    (ToU 6.3, 6.4), kept in the audit log. Its field is `note`, as the block pages': the action
    form beside the menu already posts a `reason` (the block reason)."""

    note = forms.CharField(label=_("The client's request (how it reached us, how we checked it is theirs)"), max_length=500,
                           widget=forms.Textarea(attrs={"rows": 3}), error_messages={"required": _("Give a reason (plain text).")})

    def clean_note(self) -> str:
        return _written_reason(self.cleaned_data["note"])


class UnblockForm(StyledForm):
    """Confirming a lift (ACC-3): which block (none chosen: every block) and why."""

    reason = forms.ChoiceField(label=_("Lift the block for"), choices=[("", _("every block")), *Client.BlockReason.choices], required=False)
    note = forms.CharField(label=_("Why (kept in the history and the audit log)"), max_length=500, widget=forms.Textarea(attrs={"rows": 3}),
                           error_messages={"required": _("Give a reason (plain text).")})

    def clean_note(self) -> str:
        return _written_reason(self.cleaned_data["note"])


def _prefilled(request, *names: str) -> dict:
    """What the action form beside the menu carried, to start the confirmation page with."""
    return {name: request.POST[name] for name in names if request.POST.get(name)}


def _who(client: Client) -> str:
    return f"{client.name} <{client.email}>" if client.name else client.email


def _standing(client: Client, holding: list[Restriction]) -> str:
    """What restricts the account now, in words: "active", "blocked for abuse (for good)"."""
    if not holding:
        return gettext("active")
    parts = []
    for r in holding:
        if r.kind == Restriction.Kind.SUSPENSION:
            parts.append(gettext("suspended for unpaid fees"))
        else:
            end = gettext("until %(end)s") % {"end": moment(r.ends_at)} if r.ends_at else gettext("for good")
            parts.append(gettext("blocked for %(reason)s (%(end)s)") % {"reason": r.get_reason_display().lower(), "end": end})
    return ", ".join(parts)


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
    change_form_template = "admin/accounts/client/change_form.html"  # the client's story above its form (issue 16)
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

    # --- the client's page: its whole story (issue 16) ------------------------------------------

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if change and obj is not None:
            context["client_panels"] = panels_for(obj, request.user)
            if self.has_block_permission(request):
                context["block_url"] = reverse("admin:accounts_client_block", args=[obj.pk])
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def get_urls(self):
        block = path("<path:object_id>/block/", self.admin_site.admin_view(self.block_view), name="accounts_client_block")
        return [block, *super().get_urls()]

    # --- blocking and lifting (ACC-3), each confirmed first --------------------------------------

    def _block_question(self, *, one: bool = False) -> str:
        if one:
            return gettext("The account below is blocked for the reason you choose, until the end you set or for good, beside whatever else "
                           "restricts it (ACC-3): it may still sign in, see why, pay and reach its data, but not change projects, members, "
                           "subscribers or API keys, and its projects stop sending. The client is told by email with the reason and the end "
                           "(NTF-1; billing tells of its own blocks).")
        return gettext("Each account below is blocked for the reason you choose, until the end you set or for good, beside whatever else "
                       "restricts it (ACC-3): it may still sign in, see why, pay and reach its data, but not change projects, members, "
                       "subscribers or API keys, and its projects stop sending. The client is told by email with the reason and the end "
                       "(NTF-1; billing tells of its own blocks).")

    def _standings(self, clients: list[Client]) -> list[str]:
        holding = holding_restrictions([c.pk for c in clients], now=timezone.now())
        return [gettext("%(who)s — now %(standing)s") % {"who": _who(c), "standing": _standing(c, holding[c.pk])} for c in clients]

    def _blocked_sentence(self, clients: list[Client], data: dict) -> str:
        end = gettext("until %(end)s") % {"end": moment(data["until"])} if data["until"] else gettext("for good")
        return ngettext("Blocked %(count)s client for %(reason)s, %(end)s: %(who)s.", "Blocked %(count)s clients for %(reason)s, %(end)s: %(who)s.",
                        len(clients)) % {"count": len(clients), "reason": Client.BlockReason(data["reason"]).label.lower(), "end": end,
                                         "who": ", ".join(c.email for c in clients)}

    def _confirm_page(self, request, clients: list[Client], *, action: str, title: str, question: str, submit: str, form):
        page = confirmation(self, request, admin_action=action, title=title, question=question, rows=self._standings(clients),
                            ids=[c.pk for c in clients], submit=submit, extra={"block_form": form})
        page.template_name = "admin/accounts/client/confirm_block.html"
        return page

    @admin.action(description=_("Block selected clients…"), permissions=["block"])
    def block_clients(self, request, queryset):
        clients = list(queryset)
        form = BlockForm(request.POST) if confirmed(request) else BlockForm(initial=_prefilled(request, "reason", "until", "note"))
        if not form.is_bound or not form.is_valid():
            return self._confirm_page(request, clients, action=self.block_clients.__name__, title=gettext("Block clients"),
                                      question=self._block_question(), submit=gettext("Yes, block them"), form=form)
        data = form.cleaned_data
        done, refused = [], []
        for client in clients:
            try:
                done.append(services.block(client=client, reason=data["reason"], until=data["until"], actor=request.user, note=data["note"]))
            except (RuleRefused, ValidationError) as exc:
                refused.append(f"{client}: {refusal(exc)}")
        if done:
            self.message_user(request, self._blocked_sentence(done, data), messages.SUCCESS)
        for sentence in refused:
            self.message_user(request, sentence, messages.ERROR)
        return None

    @admin.action(description=_("Lift the selected clients' blocks…"), permissions=["block"])
    def unblock_clients(self, request, queryset):
        clients = list(queryset)
        form = UnblockForm(request.POST) if confirmed(request) else UnblockForm(initial=_prefilled(request, "reason", "note"))
        if not form.is_bound or not form.is_valid():
            question = gettext("The block you choose (none chosen: every block) is lifted from each account below, and only it: a suspension "
                               "for unpaid fees and other blocks stay (ACC-3). A client whose last block goes is told by email (NTF-1).")
            return self._confirm_page(request, clients, action=self.unblock_clients.__name__, title=gettext("Lift blocks"), question=question,
                                      submit=gettext("Yes, lift it"), form=form)
        reason = form.cleaned_data["reason"] or None
        lifted = services.lift_many([c.pk for c in clients], kinds=[Restriction.Kind.BLOCK], reasons=None if reason is None else [reason],
                                    actor=request.user, note=form.cleaned_data["note"])
        emails = ", ".join(c.email for c in clients if c.pk in set(lifted))
        if not lifted:
            self.message_user(request, gettext("None of the selected clients held that block: nothing was lifted."), messages.WARNING)
        elif reason:
            self.message_user(request, ngettext("Lifted the block for %(reason)s of %(count)s client: %(who)s.",
                                                "Lifted the block for %(reason)s of %(count)s clients: %(who)s.", len(lifted)) % {
                "reason": Client.BlockReason(reason).label.lower(), "count": len(lifted), "who": emails}, messages.SUCCESS)
        else:
            self.message_user(request, ngettext("Lifted every block of %(count)s client: %(who)s.", "Lifted every block of %(count)s clients: %(who)s.",
                                                len(lifted)) % {"count": len(lifted), "who": emails}, messages.SUCCESS)
        return None

    def block_view(self, request, object_id):
        """The per-client "Block…" page (ACC-3): what a block does and to whom, its reason, end and
        why; the block itself is the service's (history, audit, the client told: NTF-1)."""
        if not self.has_block_permission(request):
            raise PermissionDenied
        client = self.get_object(request, unquote(object_id))
        if client is None:
            raise Http404(gettext("No such client."))
        form = BlockForm(request.POST) if request.method == "POST" else BlockForm()
        if form.is_bound and form.is_valid():
            try:
                services.block(client=client, reason=form.cleaned_data["reason"], until=form.cleaned_data["until"], actor=request.user,
                               note=form.cleaned_data["note"])
            except ValidationError as exc:
                form.add_error(None, exc)
            except RuleRefused as exc:
                form.add_error(None, refusal(exc))
            else:
                self.message_user(request, self._blocked_sentence([client], form.cleaned_data), messages.SUCCESS)
                return redirect(reverse("admin:accounts_client_change", args=[client.pk]))
        context = {
            **self.admin_site.each_context(request), "opts": self.opts, "original": client, "title": gettext("Block %(who)s") % {"who": client.email},
            "question": self._block_question(one=True), "rows": self._standings([client]), "submit": gettext("Yes, block this client"),
            "block_form": form, "back_url": reverse("admin:accounts_client_change", args=[client.pk]),
        }
        return TemplateResponse(request, "admin/accounts/client/confirm_block.html", context)

    @admin.action(description=_("Turn off two-factor authentication (on the client's request)…"), permissions=["reset_two_factor"])
    def turn_off_two_factor(self, request, queryset):
        """Confirmed first, with the request it answers: signing in then needs only the password."""
        clients = list(queryset)
        form = TwoFactorOffForm(request.POST) if confirmed(request) else TwoFactorOffForm(initial=_prefilled(request, "note"))
        if not form.is_bound or not form.is_valid():
            holding = set(Authenticator.objects.filter(user__in=clients).values_list("user_id", flat=True))
            rows = [gettext("%(who)s — two-factor authentication on") % {"who": _who(c)} if c.pk in holding
                    else gettext("%(who)s — has no second factor: nothing to turn off") % {"who": _who(c)} for c in clients]
            question = gettext("Every second factor (authenticator app, recovery codes) of each account below is removed: from then on "
                               "its sign-in asks only for the password, until the client sets one up again. Do this only on the client's "
                               "own request, once you have checked that the request is theirs.")
            page = confirmation(self, request, admin_action=self.turn_off_two_factor.__name__, title=gettext("Turn off two-factor authentication"),
                                question=question, rows=rows, ids=[c.pk for c in clients], submit=gettext("Yes, turn it off"),
                                extra={"block_form": form})
            page.template_name = "admin/accounts/client/confirm_block.html"
            return page
        note = form.cleaned_data["note"]
        done = [c for c in clients if services.turn_off_two_factor(client=c, actor=request.user, note=note)]
        if done:
            self.message_user(request, ngettext("Turned off two-factor authentication of %(count)s client: %(who)s.",
                                                "Turned off two-factor authentication of %(count)s clients: %(who)s.", len(done))
                              % {"count": len(done), "who": ", ".join(c.email for c in done)}, messages.SUCCESS)
        else:
            self.message_user(request, gettext("None of the selected clients had a second factor: nothing was turned off."), messages.WARNING)
        return None


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
