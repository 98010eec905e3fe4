"""What a valid funnel is (PRJ-6), checked in one place before anything is stored: exactly one
start block, every transition to a block that exists, and Telegram's limits on texts and buttons.
Pure: no database here."""

import re
from dataclasses import dataclass, field

from django.utils.translation import gettext_noop

from core.exceptions import RuleRefused
from projects.models.funnels import KEY_LENGTH, Block

Kind, Action = Block.Kind, Block.Action

MAX_BLOCKS = 100
MAX_BUTTONS = 10  # one per row of the inline keyboard
MAX_TEXT = 4096  # Telegram: a message's text
MAX_BUTTON_TEXT = 64
MAX_CALLBACK_DATA_BYTES = 64  # Telegram: a button's callback_data; ours is the key it leads to
MAX_DELAY_SECONDS = 30 * 24 * 3600
KEY = re.compile(rf"[A-Za-z0-9_-]{{1,{KEY_LENGTH}}}")
UNPRINTABLE = re.compile(r"[\x00\ud800-\udfff]")  # NUL and lone surrogates: no database or messenger takes them


@dataclass(frozen=True)
class ButtonSpec:
    text: str
    next: str


@dataclass(frozen=True)
class BlockSpec:
    key: str
    kind: str
    text: str = ""
    buttons: tuple[ButtonSpec, ...] = ()
    next: str = ""
    else_next: str = ""
    delay_seconds: int | None = None
    action: str = ""
    field: str = ""
    value: str = ""
    tag: str = ""

    def targets(self) -> list[str]:
        """Every block this one may lead to."""
        return [key for key in (self.next, self.else_next, *(b.next for b in self.buttons)) if key]


@dataclass(frozen=True)
class FunnelSpec:
    name: str
    start: str
    blocks: tuple[BlockSpec, ...] = field(default_factory=tuple)


def _refuse(detail: str, **params) -> RuleRefused:
    return RuleRefused("invalid_funnel", detail, params=params, status=400)


def _check_text(value: str, *, block: str = "") -> None:
    if UNPRINTABLE.search(value):
        raise _refuse(gettext_noop("Block “%(block)s” holds a character that cannot be sent (NUL or a lone surrogate)."), block=block)


def _check_block(block: BlockSpec) -> None:
    for value in (block.text, block.field, block.value, block.tag):
        _check_text(value, block=block.key)
    if block.kind not in Kind.values:
        raise _refuse(gettext_noop("Block “%(block)s” has the unknown kind “%(kind)s”."), block=block.key, kind=block.kind)
    if block.kind != Kind.MESSAGE and (block.text or block.buttons):
        raise _refuse(gettext_noop("Block “%(block)s” is not a message: it takes no text or buttons."), block=block.key)
    if block.kind == Kind.MESSAGE:
        _check_message(block)
    elif block.kind == Kind.DELAY:
        if block.delay_seconds is None or not 1 <= block.delay_seconds <= MAX_DELAY_SECONDS:
            raise _refuse(gettext_noop("The delay “%(block)s” waits from 1 second to 30 days."), block=block.key)
        if not block.next:
            raise _refuse(gettext_noop("The delay “%(block)s” needs the block that follows it (next)."), block=block.key)
    elif block.kind == Kind.CONDITION:
        if bool(block.tag) == bool(block.field):
            raise _refuse(gettext_noop("The condition “%(block)s” tests either a tag or a field, one of the two."), block=block.key)
        if not block.next:
            raise _refuse(gettext_noop("The condition “%(block)s” needs the block to go to when it holds (next)."), block=block.key)
    elif block.kind == Kind.ACTION:
        _check_action(block)
    elif block.kind == Kind.GOTO and not block.next:
        raise _refuse(gettext_noop("The go-to “%(block)s” needs the block it goes to (next)."), block=block.key)
    if block.kind != Kind.CONDITION and block.else_next:
        raise _refuse(gettext_noop("Only a condition has an “else” (block “%(block)s”)."), block=block.key)


def _check_message(block: BlockSpec) -> None:
    if not block.text.strip():
        raise _refuse(gettext_noop("The message “%(block)s” has no text."), block=block.key)
    if len(block.text) > MAX_TEXT:
        raise _refuse(gettext_noop("The message “%(block)s” is longer than %(limit)s characters."), block=block.key, limit=MAX_TEXT)
    if len(block.buttons) > MAX_BUTTONS:
        raise _refuse(gettext_noop("The message “%(block)s” has more than %(limit)s buttons."), block=block.key, limit=MAX_BUTTONS)
    if block.buttons and block.next:
        raise _refuse(gettext_noop("The message “%(block)s” waits for a button: it cannot also go on by itself (next)."), block=block.key)
    for button in block.buttons:
        _check_text(button.text, block=block.key)
        if not button.text.strip() or len(button.text) > MAX_BUTTON_TEXT:
            raise _refuse(gettext_noop("A button of “%(block)s” needs a text of 1 to %(limit)s characters."), block=block.key, limit=MAX_BUTTON_TEXT)
        if not button.next:
            raise _refuse(gettext_noop("The button “%(button)s” of “%(block)s” leads nowhere (next)."), block=block.key, button=button.text)
        if len(button.next.encode()) > MAX_CALLBACK_DATA_BYTES:
            raise _refuse(gettext_noop("The button “%(button)s” of “%(block)s” carries more than 64 bytes."), block=block.key, button=button.text)


def _check_action(block: BlockSpec) -> None:
    if block.action not in Action.values:
        raise _refuse(gettext_noop("The action “%(block)s” needs one of: set a field, add a tag, remove a tag, unsubscribe."), block=block.key)
    if block.action == Action.SET_FIELD and not block.field:
        raise _refuse(gettext_noop("The action “%(block)s” sets a field: name it."), block=block.key)
    if block.action in (Action.ADD_TAG, Action.REMOVE_TAG) and not block.tag:
        raise _refuse(gettext_noop("The action “%(block)s” needs its tag."), block=block.key)


def check_funnel(spec: FunnelSpec) -> None:
    """Refuse an invalid funnel with the reason (400 `invalid_funnel`, PRJ-6): a name; 1 to 100
    blocks with distinct keys of letters, digits, `_` and `-`; the start naming one of them (a
    funnel has exactly one start block); every transition naming a block of the funnel; each
    block complete for its kind; texts and buttons within Telegram's limits (MSG-1)."""
    if not spec.name.strip():
        raise _refuse(gettext_noop("A funnel needs a name."))
    if UNPRINTABLE.search(spec.name) or len(spec.name) > 120:
        raise _refuse(gettext_noop("A funnel's name is up to 120 characters that can be shown."))
    if not 1 <= len(spec.blocks) <= MAX_BLOCKS:
        raise _refuse(gettext_noop("A funnel has from 1 to %(limit)s blocks."), limit=MAX_BLOCKS)
    keys: set[str] = set()
    for block in spec.blocks:
        if not KEY.fullmatch(block.key):
            raise _refuse(gettext_noop("“%(block)s” is not a block key: up to 32 letters, digits, “_” or “-”."), block=block.key[:40])
        if block.key in keys:
            raise _refuse(gettext_noop("Two blocks have the key “%(block)s”."), block=block.key)
        keys.add(block.key)
    if spec.start not in keys:
        raise _refuse(gettext_noop("The start block “%(block)s” is not a block of this funnel."), block=spec.start[:40])
    for block in spec.blocks:
        _check_block(block)
        for target in block.targets():
            if target not in keys:
                raise _refuse(gettext_noop("Block “%(block)s” leads to “%(target)s”, which is not a block of this funnel."),
                              block=block.key, target=target[:40])
