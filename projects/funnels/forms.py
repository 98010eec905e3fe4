"""The dashboard's funnel editor: a funnel's name and start block, and one row of fields per block
(a formset). Shapes only: what makes a funnel valid is `spec.check_funnel`'s to say (PRJ-6)."""

from django import forms
from django.utils.translation import gettext_lazy as _

from projects.funnels.spec import MAX_BLOCKS, MAX_DELAY_SECONDS, MAX_TEXT, BlockSpec, ButtonSpec, FunnelSpec
from projects.models import Block
from projects.models.funnels import KEY_LENGTH

ARROW = "->"
CONTENT = ("text", "buttons", "next", "else_next", "delay_seconds", "action", "field", "value", "tag")


def _lines(value: str) -> str:
    """A textarea's text with the browser's CRLF line ends as the messenger's LF."""
    return value.replace("\r\n", "\n").replace("\r", "\n")


def buttons_as_text(buttons) -> str:
    """Buttons as the editor shows them: one a line, `Button text -> block_key`."""
    return "\n".join(f"{button.text} {ARROW} {button.next}" for button in buttons)


class FunnelForm(forms.Form):
    name = forms.CharField(max_length=120, label=_("Name of the funnel"))
    start = forms.CharField(max_length=KEY_LENGTH, label=_("Start block"),
                            help_text=_("The key of the block a subscriber enters first; a funnel has exactly one."))


class BlockForm(forms.Form):
    """One block. Every field but the kind may stay empty; a row left wholly empty is no block."""

    key = forms.CharField(max_length=KEY_LENGTH, required=False, label=_("Key"),
                          widget=forms.TextInput(attrs={"placeholder": _("e.g. welcome"), "autocapitalize": "off", "spellcheck": "false"}))
    kind = forms.ChoiceField(choices=Block.Kind.choices, initial=Block.Kind.MESSAGE, label=_("Kind"))
    text = forms.CharField(max_length=MAX_TEXT, required=False, label=_("Text"),
                           widget=forms.Textarea(attrs={"rows": 3, "placeholder": _("What the bot writes")}))
    buttons = forms.CharField(required=False, label=_("Buttons"),
                              widget=forms.Textarea(attrs={"rows": 2, "placeholder": _("Yes, please -> offer"), "autocapitalize": "off"}),
                              help_text=_("One a line: Button text -> block_key"))
    next = forms.CharField(max_length=KEY_LENGTH, required=False, label=_("Next"),
                           widget=forms.TextInput(attrs={"placeholder": _("block_key"), "autocapitalize": "off", "spellcheck": "false"}))
    else_next = forms.CharField(max_length=KEY_LENGTH, required=False, label=_("Else next"),
                                widget=forms.TextInput(attrs={"placeholder": _("when it does not hold"), "autocapitalize": "off",
                                                              "spellcheck": "false"}))
    delay_seconds = forms.IntegerField(min_value=1, max_value=MAX_DELAY_SECONDS, required=False, label=_("Delay, seconds"),
                                       widget=forms.NumberInput(attrs={"placeholder": _("3600 = 1 hour")}))
    action = forms.ChoiceField(choices=[("", "—"), *Block.Action.choices], required=False, label=_("Action"))
    field = forms.CharField(max_length=64, required=False, label=_("Field"),
                            widget=forms.TextInput(attrs={"placeholder": _("e.g. city"), "autocapitalize": "off"}))
    value = forms.CharField(max_length=256, required=False, label=_("Value"), widget=forms.TextInput(attrs={"placeholder": _("e.g. Kyiv")}))
    tag = forms.CharField(max_length=64, required=False, label=_("Tag"),
                          widget=forms.TextInput(attrs={"placeholder": _("e.g. customer"), "autocapitalize": "off"}))

    def clean_text(self) -> str:
        return _lines(self.cleaned_data["text"])

    def clean_buttons(self) -> tuple[ButtonSpec, ...]:
        buttons = []
        for number, line in enumerate(_lines(self.cleaned_data["buttons"]).split("\n"), start=1):
            if not line.strip():
                continue
            text, arrow, target = line.rpartition(ARROW)
            if not arrow:
                raise forms.ValidationError(_("Line %(line)s: write a button as “Button text -> block_key”."), params={"line": number})
            buttons.append(ButtonSpec(text=text.strip(), next=target.strip()))
        return tuple(buttons)

    def clean(self):
        data = super().clean()
        if not self.errors and not data.get("key") and any(data.get(name) for name in CONTENT):
            self.add_error("key", _("Give this block a key, or empty the row to leave it out."))
        return data

    @property
    def is_blank(self) -> bool:
        return not any(self.cleaned_data.get(name) for name in ("key", *CONTENT))

    def spec(self) -> BlockSpec:
        data = self.cleaned_data
        return BlockSpec(key=data["key"], kind=data["kind"], text=data["text"], buttons=data["buttons"], next=data["next"],
                         else_next=data["else_next"], delay_seconds=data["delay_seconds"], action=data["action"], field=data["field"],
                         value=data["value"], tag=data["tag"])


class BaseBlockFormSet(forms.BaseFormSet):
    def blocks(self) -> tuple[BlockSpec, ...]:
        """The rows as blocks, in their order, the empty and the removed ones left out."""
        return tuple(form.spec() for form in self.forms if form not in self.deleted_forms and not form.is_blank)


BlockFormSet = forms.formset_factory(BlockForm, formset=BaseBlockFormSet, extra=1, can_delete=True, max_num=MAX_BLOCKS,
                                     absolute_max=MAX_BLOCKS, validate_max=True)
PREFIX = "blocks"


def initial_of(spec: FunnelSpec) -> tuple[dict, list[dict]]:
    """A stored funnel (its spec) as the editor's initial values."""
    rows = [{"key": b.key, "kind": b.kind, "text": b.text, "buttons": buttons_as_text(b.buttons), "next": b.next, "else_next": b.else_next,
             "delay_seconds": b.delay_seconds, "action": b.action, "field": b.field, "value": b.value, "tag": b.tag} for b in spec.blocks]
    return {"name": spec.name, "start": spec.start}, rows


def funnel_spec(form: FunnelForm, blocks: BlockFormSet) -> FunnelSpec:
    return FunnelSpec(name=form.cleaned_data["name"], start=form.cleaned_data["start"], blocks=blocks.blocks())


def as_typed(data) -> tuple[dict, list[dict]]:
    """What the client typed into the editor, unchecked, as initial values: the "add a block"
    button shows it again with one more empty row (the formset's extra) and no errors yet."""
    form, blocks = FunnelForm(data), BlockFormSet(data, prefix=PREFIX)
    return {name: form[name].value() for name in form.fields}, [{name: row[name].value() for name in row.fields} for row in blocks.forms]
