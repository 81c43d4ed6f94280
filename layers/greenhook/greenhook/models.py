"""Typed GREEN-API webhooks (pydantic v2), with GREEN-API's own field names.

Two levels of discrimination, both decided once at import:

* `typeWebhook` picks the webhook model from WEBHOOK_MODELS (a dict). The contact-avatar
  notification reuses `typeWebhook: "deviceInfo"` with an `avatarInfo` object instead of
  `deviceData`; WEBHOOK_SHAPES picks ContactAvatar for it. A typeWebhook without a model
  parses into UnknownWebhook, so nothing is rejected for being new.
* In the three message webhooks, `messageData.typeMessage` picks the message model through
  a pydantic discriminated union (a callable Discriminator over MESSAGE_MODELS, which also
  holds GREEN-API's alternative spellings). An unknown typeMessage parses into
  UnknownMessage: a message webhook with a new typeMessage still parses.

Every model keeps unknown fields (extra="allow"). Types follow the documented drift
(green-api-webhooks.md, section 8): numbers documented as strings accept both, older and
newer payload shapes both validate, optional fields may be missing. What is required is what
greenhook cannot store without (ids, chat ids, statuses); a body without it, or with a value
of the wrong kind (a status that is not a string), raises pydantic.ValidationError.

The small properties (snake_case) are what storage needs, normalised; the fields keep the
values as GREEN-API sent them.
"""

from __future__ import annotations

import operator
from functools import reduce
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator


class GreenApiModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


def _text(value: str | None) -> str | None:
    """None for a missing or empty string: GREEN-API often sends "" for "none"."""
    return value or None


# ---------------------------------------------------------------------------------------------
# Envelope
# ---------------------------------------------------------------------------------------------


class InstanceData(GreenApiModel):
    # int64: ids above 2**31 exist (7103220992); JSON strings of digits are accepted too.
    idInstance: int
    wid: str = ""  # empty before the instance is authorized
    typeInstance: str = "whatsapp"  # "v3" on GREEN-API's MAX-messenger API


class Webhook(GreenApiModel):
    """What every notification has."""

    typeWebhook: str
    instanceData: InstanceData
    timestamp: int | None = None  # seconds; absent on some quotaExceeded examples

    @property
    def id_instance(self) -> int:
        return self.instanceData.idInstance

    @property
    def chat_id(self) -> str | None:
        """The chat the notification belongs to; None for instance-level notifications."""
        return None

    @property
    def id_message(self) -> str | None:
        """The notification's own idMessage (message or call id); None where it has none."""
        return None


class UnknownWebhook(Webhook):
    """A typeWebhook greenhook has no model for yet: kept as it is."""


# ---------------------------------------------------------------------------------------------
# Message content objects (the sub-objects of messageData)
# ---------------------------------------------------------------------------------------------


class ContentData(GreenApiModel):
    """Fields most content objects carry."""

    isForwarded: bool | None = None
    forwardingScore: int | None = None


class TextMessageData(ContentData):
    textMessage: str  # may be a marker such as "{{SWE001}}" (not decrypted)
    isTemplateMessage: bool | None = None


class ExtendedTextMessageData(ContentData):
    """Link previews, legacy quotes, and reactions (`text` = the emoji)."""

    text: str | None = None
    description: str | None = None
    title: str | None = None
    previewType: str | None = None
    jpegThumbnail: str | None = None
    stanzaId: str | None = None  # when used as a (legacy) reply
    participant: str | None = None
    # Click-to-WhatsApp ads
    containsAutoReply: bool | None = None
    mediaType: int | str | None = None
    showAdAttribution: bool | None = None
    sourceId: str | None = None
    sourceType: str | None = None
    sourceUrl: str | None = None
    thumbnailUrl: str | None = None


class FileMessageData(ContentData):
    """Image, video, document, audio and sticker messages."""

    downloadUrl: str  # may be the marker "{{SWE002}}" (file over 100 MB not fetched)
    caption: str | None = None
    fileName: str | None = None  # reliable only for documents
    jpegThumbnail: str | None = None
    mimeType: str | None = None  # not always right (image/jpeg seen on audio)
    isAnimated: bool | None = None  # stickers


class LocationMessageData(ContentData):
    latitude: float
    longitude: float
    nameLocation: str | None = None
    address: str | None = None
    jpegThumbnail: str | None = None


class ContactData(ContentData):
    displayName: str
    vcard: str


class ContactsArrayData(ContentData):
    contacts: list[ContactData]


class ProtobufLong(GreenApiModel):
    """A 64-bit integer as protobuf.js Long {low, high, unsigned} (seen in inviteExpiration)."""

    low: int
    high: int
    unsigned: bool = False

    @property
    def value(self) -> int:
        high = self.high & 0xFFFFFFFF if self.unsigned else self.high
        return (high << 32) + (self.low & 0xFFFFFFFF)


class GroupInviteMessageData(ContentData):
    groupJid: str
    inviteCode: str
    inviteExpiration: int | str | ProtobufLong | None = None  # "0" (docs) or a Long
    groupName: str | None = None
    caption: str | None = None
    name: str | None = None
    jpegThumbnail: str | None = None

    @property
    def invite_expiration(self) -> int | None:
        """Expiration as an integer (seconds; 0 = none), whichever shape it came in."""
        value = self.inviteExpiration
        if isinstance(value, ProtobufLong):
            return value.value
        if isinstance(value, str):
            return int(value) if value.strip().lstrip("-").isdigit() else None
        return value


class PollOption(GreenApiModel):
    optionName: str


class PollData(GreenApiModel):
    """A poll: current `pollMessageData` and 2023 `pollCreationMessage` alike."""

    name: str
    options: list[PollOption] = []
    multipleAnswers: bool | None = None  # current docs
    selectableOptionsCount: int | None = None  # 2023 docs: 0 = any number, 1 = one

    @property
    def multiple_answers(self) -> bool | None:
        if self.multipleAnswers is not None:
            return self.multipleAnswers
        if self.selectableOptionsCount is not None:
            return self.selectableOptionsCount != 1
        return None


class PollVote(GreenApiModel):
    optionName: str
    optionVoters: list[str] = []


class PollUpdateData(GreenApiModel):
    stanzaId: str = Field(min_length=1)  # the poll message
    name: str | None = None
    votes: list[PollVote] = []
    multipleAnswers: bool | None = None


class EditedMessageData(GreenApiModel):
    stanzaId: str = Field(min_length=1)  # the edited message
    textMessage: str | None = None  # the new full text
    caption: str | None = None  # the new caption of edited media (SDKs)


class DeletedMessageData(GreenApiModel):
    stanzaId: str = Field(min_length=1)  # the deleted message


class Button(GreenApiModel):
    buttonId: str | None = None
    buttonText: str | None = None


class ButtonsContent(ContentData):
    """`buttonsMessage` object (legacy)."""

    contentText: str | None = None
    footer: str | None = None
    buttons: list[Button] = []


class UrlButton(GreenApiModel):
    displayText: str | None = None
    url: str | None = None


class CallButton(GreenApiModel):
    displayText: str | None = None
    phoneNumber: str | None = None


class QuickReplyButton(GreenApiModel):
    displayText: str | None = None
    id: str | None = None


class TemplateButton(GreenApiModel):
    index: int | None = None  # a number in the example, a string in the table
    urlButton: UrlButton | None = None
    callButton: CallButton | None = None
    quickReplyButton: QuickReplyButton | None = None


class TemplateContent(ContentData):
    """`templateMessage` object (legacy)."""

    namespace: str | None = None
    elementName: str | None = None
    contentText: str | None = None
    footer: str | None = None
    buttons: list[TemplateButton] = []


class ListRow(GreenApiModel):
    title: str | None = None
    rowId: str | None = None
    description: str | None = None


class ListSection(GreenApiModel):
    title: str | None = None
    rows: list[ListRow] = []


class ListContent(ContentData):
    """`listMessage` object (legacy)."""

    contentText: str | None = None
    title: str | None = None
    footer: str | None = None
    buttonText: str | None = None
    sections: list[ListSection] = []


class ButtonsResponse(GreenApiModel):
    stanzaId: str = Field(min_length=1)  # the buttons message
    selectedButtonId: str | None = None
    selectedButtonText: str | None = None


class TemplateButtonReply(GreenApiModel):
    stanzaId: str | None = None  # the template message (absent in the Java server's mapping)
    selectedIndex: int | None = None  # a number in the example, a string in the table
    selectedId: str | None = None
    selectedDisplayText: str | None = None


class ListResponse(GreenApiModel):
    stanzaId: str = Field(min_length=1)  # the list message
    title: str | None = None
    listType: int | None = None  # 1 = single select; documented as a string
    singleSelectReply: str | None = None  # the chosen rowId
    description: str | None = None


class InteractiveButton(GreenApiModel):
    type: str | None = None  # copy, call, url, reply
    buttonId: str | None = None
    buttonText: str | None = None
    copyCode: str | None = None
    phoneNumber: str | None = None
    url: str | None = None


class InteractiveButtonsContent(GreenApiModel):
    """Doc tables name the texts header/body/footer, GREEN-API's SDKs titleText/contentText/
    footerText; both are accepted and read through `title`, `body_text` and `footer_text`."""

    header: str | None = None
    body: str | None = None
    footer: str | None = None
    titleText: str | None = None
    contentText: str | None = None
    footerText: str | None = None
    buttons: list[InteractiveButton] = []

    @property
    def title(self) -> str | None:
        return _text(self.header) or _text(self.titleText)

    @property
    def body_text(self) -> str | None:
        return _text(self.body) or _text(self.contentText)

    @property
    def footer_text(self) -> str | None:
        return _text(self.footer) or _text(self.footerText)


class QuotedMessage(GreenApiModel):
    """The reply context on messageData: the quoted message's id, author, type and a copy
    of its content (type-dependent; often empty strings for media). For a reaction it holds
    only stanzaId and participant."""

    stanzaId: str = Field(min_length=1)
    participant: str | None = None
    typeMessage: str | None = None
    textMessage: str | None = None
    extendedTextMessage: ExtendedTextMessageData | None = None
    downloadUrl: str | None = None
    caption: str | None = None
    fileName: str | None = None
    jpegThumbnail: str | None = None
    mimeType: str | None = None
    isAnimated: bool | None = None
    contact: ContactData | None = None
    contacts: list[ContactData] | None = None
    location: LocationMessageData | None = None
    groupInviteMessageData: GroupInviteMessageData | None = None

    @property
    def text(self) -> str | None:
        """Best-effort plain text of the quoted message: its text, else its caption."""
        extended = self.extendedTextMessage.text if self.extendedTextMessage else None
        return _text(self.textMessage) or _text(extended) or _text(self.caption)


# ---------------------------------------------------------------------------------------------
# messageData: one model per typeMessage
# ---------------------------------------------------------------------------------------------


class MessageData(GreenApiModel):
    """What every messageData has. `text` and `stanza_id` are overridden per type."""

    TYPE_MESSAGE: ClassVar[str | None] = None  # canonical spelling
    # Keys of which at least one must be present (documented shapes that moved keys).
    ONE_OF: ClassVar[tuple[str, ...]] = ()

    typeMessage: str
    quotedMessage: QuotedMessage | None = None  # present when the message is a reply

    @model_validator(mode="after")
    def _has_one_of(self) -> MessageData:
        if self.ONE_OF and self.first_present() is None:
            raise ValueError(f"{self.TYPE_MESSAGE} needs {' or '.join(self.ONE_OF)}")
        return self

    def first_present(self) -> Any:
        """The value of the first ONE_OF key the message has (None if it has none)."""
        return next((v for v in (getattr(self, k) for k in self.ONE_OF) if v is not None), None)

    @property
    def type_message(self) -> str:
        """typeMessage in its canonical spelling (variant spellings folded)."""
        return self.TYPE_MESSAGE or self.typeMessage

    @property
    def text(self) -> str | None:
        """Best-effort plain text of the message, or None."""
        return None

    @property
    def stanza_id(self) -> str | None:
        """The message this one refers to: for replies the quoted message."""
        return self.quotedMessage.stanzaId if self.quotedMessage is not None else None


class UnknownMessage(MessageData):
    """A typeMessage greenhook has no model for yet: kept as it is."""


class TextMessage(MessageData):
    TYPE_MESSAGE: ClassVar[str] = "textMessage"
    typeMessage: Literal["textMessage"]
    textMessageData: TextMessageData

    @property
    def text(self) -> str | None:
        return _text(self.textMessageData.textMessage)


class ExtendedTextMessage(MessageData):
    TYPE_MESSAGE: ClassVar[str] = "extendedTextMessage"
    typeMessage: Literal["extendedTextMessage"]
    extendedTextMessageData: ExtendedTextMessageData

    @property
    def text(self) -> str | None:
        return _text(self.extendedTextMessageData.text)

    @property
    def stanza_id(self) -> str | None:
        return super().stanza_id or self.extendedTextMessageData.stanzaId


class LegacyQuotedMessage(MessageData):
    """typeMessage `quotedMessage`: a deprecated reply shape kept by GREEN-API."""

    TYPE_MESSAGE: ClassVar[str] = "quotedMessage"
    typeMessage: Literal["quotedMessage"]
    extendedTextMessageData: ExtendedTextMessageData

    @property
    def text(self) -> str | None:
        return _text(self.extendedTextMessageData.text)

    @property
    def stanza_id(self) -> str | None:
        return super().stanza_id or self.extendedTextMessageData.stanzaId


class FileMessage(MessageData):
    fileMessageData: FileMessageData

    @property
    def text(self) -> str | None:
        return _text(self.fileMessageData.caption)


class ImageMessage(FileMessage):
    TYPE_MESSAGE: ClassVar[str] = "imageMessage"
    typeMessage: Literal["imageMessage"]


class VideoMessage(FileMessage):
    TYPE_MESSAGE: ClassVar[str] = "videoMessage"
    typeMessage: Literal["videoMessage"]


class DocumentMessage(FileMessage):
    TYPE_MESSAGE: ClassVar[str] = "documentMessage"
    typeMessage: Literal["documentMessage"]


class AudioMessage(FileMessage):
    TYPE_MESSAGE: ClassVar[str] = "audioMessage"
    typeMessage: Literal["audioMessage"]


class StickerMessage(FileMessage):
    TYPE_MESSAGE: ClassVar[str] = "stickerMessage"
    typeMessage: Literal["stickerMessage"]


class LocationMessage(MessageData):
    TYPE_MESSAGE: ClassVar[str] = "locationMessage"
    typeMessage: Literal["locationMessage"]
    locationMessageData: LocationMessageData

    @property
    def text(self) -> str | None:
        """The place's name, else its address."""
        data = self.locationMessageData
        return _text(data.nameLocation) or _text(data.address)


class ContactMessage(MessageData):
    TYPE_MESSAGE: ClassVar[str] = "contactMessage"
    typeMessage: Literal["contactMessage"]
    contactMessageData: ContactData

    @property
    def text(self) -> str | None:
        return _text(self.contactMessageData.displayName)


class ContactsArrayMessage(MessageData):
    """Current docs nest `messageData.messageData.contacts`; 2023 docs (typeMessage spelled
    `ContactsArrayMessage`) put `contacts` directly in messageData. One of them is required."""

    TYPE_MESSAGE: ClassVar[str] = "contactsArrayMessage"
    typeMessage: Literal["contactsArrayMessage", "ContactsArrayMessage"]
    messageData: ContactsArrayData | None = None
    contacts: list[ContactData] | None = None

    ONE_OF: ClassVar[tuple[str, ...]] = ("messageData", "contacts")

    @property
    def contact_list(self) -> list[ContactData]:
        found = self.first_present()
        return found.contacts if isinstance(found, ContactsArrayData) else found

    @property
    def text(self) -> str | None:
        """The contacts' display names, comma-separated."""
        return _text(", ".join(c.displayName for c in self.contact_list if c.displayName))


class ReactionMessage(MessageData):
    """`extendedTextMessageData.text` is the emoji; the reacted-to message is
    `quotedMessage.stanzaId` (required here: a reaction to nothing cannot be stored)."""

    TYPE_MESSAGE: ClassVar[str] = "reactionMessage"
    typeMessage: Literal["reactionMessage"]
    extendedTextMessageData: ExtendedTextMessageData
    quotedMessage: QuotedMessage

    @property
    def text(self) -> str | None:
        """The emoji; None (an empty text) may mean the reaction was removed (undocumented)."""
        return _text(self.extendedTextMessageData.text)

    @property
    def stanza_id(self) -> str | None:
        return self.quotedMessage.stanzaId


class GroupInviteMessage(MessageData):
    TYPE_MESSAGE: ClassVar[str] = "groupInviteMessage"
    typeMessage: Literal["groupInviteMessage"]
    groupInviteMessageData: GroupInviteMessageData

    @property
    def text(self) -> str | None:
        data = self.groupInviteMessageData
        return _text(data.caption) or _text(data.groupName)


class PollMessage(MessageData):
    """Current `pollMessageData` (multipleAnswers) or 2023 `pollCreationMessage`
    (selectableOptionsCount); one of them is required."""

    TYPE_MESSAGE: ClassVar[str] = "pollMessage"
    typeMessage: Literal["pollMessage"]
    pollMessageData: PollData | None = None
    pollCreationMessage: PollData | None = None

    ONE_OF: ClassVar[tuple[str, ...]] = ("pollMessageData", "pollCreationMessage")

    @property
    def poll(self) -> PollData:
        return self.first_present()

    @property
    def text(self) -> str | None:
        """The poll's question."""
        return _text(self.poll.name)


class PollUpdateMessage(MessageData):
    TYPE_MESSAGE: ClassVar[str] = "pollUpdateMessage"
    typeMessage: Literal["pollUpdateMessage"]
    pollMessageData: PollUpdateData

    @property
    def stanza_id(self) -> str | None:
        """The poll the votes belong to."""
        return self.pollMessageData.stanzaId


class EditedMessage(MessageData):
    TYPE_MESSAGE: ClassVar[str] = "editedMessage"
    typeMessage: Literal["editedMessage"]
    editedMessageData: EditedMessageData

    @property
    def text(self) -> str | None:
        """The new text (or new caption of edited media)."""
        data = self.editedMessageData
        return _text(data.textMessage) or _text(data.caption)

    @property
    def stanza_id(self) -> str | None:
        """The edited message."""
        return self.editedMessageData.stanzaId


class DeletedMessage(MessageData):
    TYPE_MESSAGE: ClassVar[str] = "deletedMessage"
    typeMessage: Literal["deletedMessage"]
    deletedMessageData: DeletedMessageData

    @property
    def stanza_id(self) -> str | None:
        """The deleted message."""
        return self.deletedMessageData.stanzaId


class ButtonsMessage(MessageData):
    TYPE_MESSAGE: ClassVar[str] = "buttonsMessage"
    typeMessage: Literal["buttonsMessage"]
    buttonsMessage: ButtonsContent

    @property
    def text(self) -> str | None:
        return _text(self.buttonsMessage.contentText)


class TemplateMessage(MessageData):
    TYPE_MESSAGE: ClassVar[str] = "templateMessage"
    typeMessage: Literal["templateMessage"]
    templateMessage: TemplateContent

    @property
    def text(self) -> str | None:
        return _text(self.templateMessage.contentText)


class ListMessage(MessageData):
    TYPE_MESSAGE: ClassVar[str] = "listMessage"
    typeMessage: Literal["listMessage"]
    listMessage: ListContent

    @property
    def text(self) -> str | None:
        return _text(self.listMessage.contentText) or _text(self.listMessage.title)


class ButtonsResponseMessage(MessageData):
    TYPE_MESSAGE: ClassVar[str] = "buttonsResponseMessage"
    typeMessage: Literal["buttonsResponseMessage"]
    buttonsResponseMessage: ButtonsResponse

    @property
    def text(self) -> str | None:
        return _text(self.buttonsResponseMessage.selectedButtonText)

    @property
    def stanza_id(self) -> str | None:
        """The buttons message answered."""
        return self.buttonsResponseMessage.stanzaId


class TemplateButtonsReplyMessage(MessageData):
    """typeMessage spelled `templateButtonsReplyMessage` (doc table) or
    `templateButtonReplyMessage` (every example); the object key is
    `templateButtonReplyMessage` in every example, the table spelling is accepted too."""

    TYPE_MESSAGE: ClassVar[str] = "templateButtonsReplyMessage"
    typeMessage: Literal["templateButtonsReplyMessage", "templateButtonReplyMessage"]
    templateButtonReplyMessage: TemplateButtonReply | None = None
    templateButtonsReplyMessage: TemplateButtonReply | None = None

    ONE_OF: ClassVar[tuple[str, ...]] = (
        "templateButtonReplyMessage",
        "templateButtonsReplyMessage",
    )

    @property
    def reply(self) -> TemplateButtonReply:
        return self.first_present()

    @property
    def text(self) -> str | None:
        return _text(self.reply.selectedDisplayText)

    @property
    def stanza_id(self) -> str | None:
        """The template message answered."""
        return self.reply.stanzaId or super().stanza_id


class ListResponseMessage(MessageData):
    TYPE_MESSAGE: ClassVar[str] = "listResponseMessage"
    typeMessage: Literal["listResponseMessage"]
    listResponseMessage: ListResponse

    @property
    def text(self) -> str | None:
        return _text(self.listResponseMessage.title)

    @property
    def stanza_id(self) -> str | None:
        """The list message answered."""
        return self.listResponseMessage.stanzaId


class InteractiveButtonsMessage(MessageData):
    """Beta: a message with copy/call/url buttons."""

    TYPE_MESSAGE: ClassVar[str] = "interactiveButtons"
    typeMessage: Literal["interactiveButtons"]
    interactiveButtons: InteractiveButtonsContent

    @property
    def text(self) -> str | None:
        return self.interactiveButtons.body_text


class InteractiveButtonsReplyMessage(MessageData):
    """Beta. The docs describe a message carrying reply buttons (`interactiveButtonsReply`,
    typeMessage also written `interactiveButtonReply` in one table); GREEN-API's Java server
    maps it to a selection (`templateButtonReplyMessage`). Either object is accepted."""

    TYPE_MESSAGE: ClassVar[str] = "interactiveButtonsReply"
    typeMessage: Literal["interactiveButtonsReply", "interactiveButtonReply"]
    interactiveButtonsReply: InteractiveButtonsContent | None = None
    templateButtonReplyMessage: TemplateButtonReply | None = None

    ONE_OF: ClassVar[tuple[str, ...]] = ("interactiveButtonsReply", "templateButtonReplyMessage")

    @property
    def text(self) -> str | None:
        found = self.first_present()
        if isinstance(found, InteractiveButtonsContent):
            return found.body_text
        return _text(found.selectedDisplayText)

    @property
    def stanza_id(self) -> str | None:
        selection = self.templateButtonReplyMessage
        return (selection.stanzaId if selection else None) or super().stanza_id


# typeMessage (every spelling GREEN-API uses) -> model.
MESSAGE_MODELS: dict[str, type[MessageData]] = {
    "textMessage": TextMessage,
    "extendedTextMessage": ExtendedTextMessage,
    "quotedMessage": LegacyQuotedMessage,
    "imageMessage": ImageMessage,
    "videoMessage": VideoMessage,
    "documentMessage": DocumentMessage,
    "audioMessage": AudioMessage,
    "stickerMessage": StickerMessage,
    "locationMessage": LocationMessage,
    "contactMessage": ContactMessage,
    "contactsArrayMessage": ContactsArrayMessage,
    "ContactsArrayMessage": ContactsArrayMessage,
    "reactionMessage": ReactionMessage,
    "groupInviteMessage": GroupInviteMessage,
    "pollMessage": PollMessage,
    "pollUpdateMessage": PollUpdateMessage,
    "editedMessage": EditedMessage,
    "deletedMessage": DeletedMessage,
    "buttonsMessage": ButtonsMessage,
    "templateMessage": TemplateMessage,
    "listMessage": ListMessage,
    "buttonsResponseMessage": ButtonsResponseMessage,
    "templateButtonsReplyMessage": TemplateButtonsReplyMessage,
    "templateButtonReplyMessage": TemplateButtonsReplyMessage,
    "listResponseMessage": ListResponseMessage,
    "interactiveButtons": InteractiveButtonsMessage,
    "interactiveButtonsReply": InteractiveButtonsReplyMessage,
    "interactiveButtonReply": InteractiveButtonsReplyMessage,
}
_UNKNOWN_MESSAGE_TAG = "unknown"


def _message_tag(value: Any) -> str | None:
    """The union tag of a messageData (a dict while validating, a model while dumping)."""
    if isinstance(value, dict):
        type_message = value.get("typeMessage")
    else:
        type_message = getattr(value, "typeMessage", None)
    if not isinstance(type_message, str):
        return None  # pydantic reports it as a validation error
    model = MESSAGE_MODELS.get(type_message)
    return model.__name__ if model else _UNKNOWN_MESSAGE_TAG


if TYPE_CHECKING:
    AnyMessageData = MessageData
else:
    AnyMessageData = Annotated[
        reduce(
            operator.or_,
            [Annotated[m, Tag(m.__name__)] for m in dict.fromkeys(MESSAGE_MODELS.values())],
        )
        | Annotated[UnknownMessage, Tag(_UNKNOWN_MESSAGE_TAG)],
        Discriminator(_message_tag),
    ]


# ---------------------------------------------------------------------------------------------
# Webhooks: one model per typeWebhook
# ---------------------------------------------------------------------------------------------


class SenderData(GreenApiModel):
    chatId: str = Field(min_length=1)  # <phone>@c.us, <id>@g.us or <lid>@lid
    sender: str = Field(min_length=1)  # the author: a group participant, own wid if outgoing
    chatName: str | None = None
    senderName: str | None = None
    senderContactName: str | None = None  # name in the instance's phone book


class MessageWebhook(Webhook):
    """incomingMessageReceived, outgoingMessageReceived, outgoingAPIMessageReceived."""

    DIRECTION: ClassVar[str] = "incoming"

    timestamp: int
    idMessage: str = Field(min_length=1)
    senderData: SenderData
    messageData: AnyMessageData

    @property
    def chat_id(self) -> str:
        return self.senderData.chatId

    @property
    def id_message(self) -> str:
        return self.idMessage

    @property
    def sender(self) -> str:
        return self.senderData.sender

    @property
    def is_group(self) -> bool:
        return self.senderData.chatId.endswith("@g.us")

    @property
    def direction(self) -> str:
        """Either incoming, or outgoing (sent from the phone or through the API)."""
        return self.DIRECTION

    @property
    def type_message(self) -> str:
        """typeMessage in its canonical spelling (e.g. ContactsArrayMessage ->
        contactsArrayMessage, templateButtonReplyMessage -> templateButtonsReplyMessage)."""
        return self.messageData.type_message

    @property
    def text(self) -> str | None:
        """Best-effort plain text: the text, caption, emoji, poll question, selected button..."""
        return self.messageData.text

    @property
    def stanza_id(self) -> str | None:
        """The idMessage this message refers to: the edited message (editedMessage), the
        deleted one (deletedMessage), the reacted-to one (reactionMessage), the poll
        (pollUpdateMessage), the answered buttons/list/template message, or the quoted
        message of a reply; None otherwise. What the reference means depends on
        type_message."""
        return self.messageData.stanza_id


class IncomingMessageReceived(MessageWebhook):
    typeWebhook: Literal["incomingMessageReceived"]


class OutgoingMessageReceived(MessageWebhook):
    """Sent from the phone (or another linked device)."""

    DIRECTION: ClassVar[str] = "outgoing"
    typeWebhook: Literal["outgoingMessageReceived"]


class OutgoingAPIMessageReceived(MessageWebhook):
    """Sent through the API."""

    DIRECTION: ClassVar[str] = "outgoing"
    typeWebhook: Literal["outgoingAPIMessageReceived"]


class OutgoingMessageStatus(Webhook):
    typeWebhook: Literal["outgoingMessageStatus"]
    timestamp: int
    idMessage: str = Field(min_length=1)
    # sent, delivered, read, failed, noAccount, notInGroup, yellowCard, ...
    status: str = Field(min_length=1)
    chatId: str | None = None  # missing in the 2023 example
    description: str | None = None  # errors, e.g. "SWE004: ..."
    sendByApi: bool | None = None

    @property
    def chat_id(self) -> str | None:
        return self.chatId or None

    @property
    def id_message(self) -> str:
        return self.idMessage


class StateInstanceChanged(Webhook):
    typeWebhook: Literal["stateInstanceChanged"]
    timestamp: int
    # authorized, notAuthorized, blocked, sleepMode, starting, yellowCard, suspended, ...
    stateInstance: str = Field(min_length=1)


class StatusInstanceChanged(Webhook):
    typeWebhook: Literal["statusInstanceChanged"]
    timestamp: int
    statusInstance: str = Field(min_length=1)  # online, offline


class DeviceData(GreenApiModel):
    platform: str | None = None
    deviceManufacturer: str | None = None
    deviceModel: str | None = None
    osVersion: str | None = None
    waVersion: str | None = None
    battery: int | None = None  # percent


class DeviceInfo(Webhook):
    """The phone's model and battery (GREEN-API: temporarily out of service)."""

    typeWebhook: Literal["deviceInfo"]
    timestamp: int
    deviceData: DeviceData


class AvatarInfo(GreenApiModel):
    chatId: str | bool | None = None  # a chat id in the example, typed boolean in the table
    existsWhatsapp: bool | None = None
    urlAvatar: str | None = None  # "" when there is none
    reason: str | None = None  # only when the check failed

    @property
    def chat_id(self) -> str | None:
        """The contact whose avatar this is, when chatId is a chat id (not a boolean)."""
        return self.chatId if isinstance(self.chatId, str) and self.chatId else None


class ContactAvatar(Webhook):
    """The contact-avatar notification: `typeWebhook: "deviceInfo"` with `avatarInfo`.
    An instance-level notification (an answer about a contact, not chat activity): its
    chat_id is None, as ingest routes it; the contact is avatarInfo.chat_id."""

    typeWebhook: Literal["deviceInfo"]
    timestamp: int
    avatarInfo: AvatarInfo


_CALL_STATUS_SPELLINGS = {"hangUp": "hungUp", "missed": "declined"}


def normalise_call_status(status: str | None) -> str | None:
    """A call status in current spelling: hangUp -> hungUp, missed -> declined (deprecated
    in favour of it); anything else unchanged."""
    if status is None:
        return None
    return _CALL_STATUS_SPELLINGS.get(status, status)


class CallParticipant(GreenApiModel):
    id: str | None = None  # the Java SDK calls it wid (kept as an extra field)
    status: str | None = None


class CallWebhook(Webhook):
    timestamp: int
    idMessage: str = Field(min_length=1)  # the call's id, shared by its webhooks
    from_: str = Field(alias="from", min_length=1)  # the chat called or calling
    status: str | None = Field(default=None, min_length=1)
    isVideo: bool | None = None
    duration: int | None = None  # seconds
    participants: list[CallParticipant] = []

    @property
    def chat_id(self) -> str:
        return self.from_

    @property
    def id_message(self) -> str:
        return self.idMessage

    @property
    def normalised_status(self) -> str | None:
        """`status` in current spelling (hangUp -> hungUp, missed -> declined)."""
        return normalise_call_status(self.status)


class IncomingCall(CallWebhook):
    """offer, then pickUp / hungUp (hangUp) / declined (missed). Beta."""

    typeWebhook: Literal["incomingCall"]  # status is absent in the oldest example


class OutgoingCall(CallWebhook):
    """pickUp, hungUp or invalid. Beta."""

    typeWebhook: Literal["outgoingCall"]
    status: str = Field(min_length=1)


class IncomingBlock(Webhook):
    """A contact blocked the instance (GREEN-API: deprecated, temporarily not working)."""

    typeWebhook: Literal["incomingBlock"]
    timestamp: int
    chatId: str = Field(min_length=1)  # documented as integer, sent as a chat id string
    chatState: str = Field(min_length=1)  # blocked

    @property
    def chat_id(self) -> str:
        return self.chatId


class QuotaData(GreenApiModel):
    method: str | None = None  # correspondents
    used: int | None = None  # numbers in the example, strings in the table
    total: int | None = None
    status: str | None = None  # CORRESPONDENTS_QUOTA_EXCEEDED
    description: str | None = None


class QuotaExceeded(Webhook):
    """Developer-plan quota exceeded; `timestamp` is missing in the documented example."""

    typeWebhook: Literal["quotaExceeded"]
    quotaData: QuotaData


# typeWebhook -> model.
WEBHOOK_MODELS: dict[str, type[Webhook]] = {
    "incomingMessageReceived": IncomingMessageReceived,
    "outgoingMessageReceived": OutgoingMessageReceived,
    "outgoingAPIMessageReceived": OutgoingAPIMessageReceived,
    "outgoingMessageStatus": OutgoingMessageStatus,
    "stateInstanceChanged": StateInstanceChanged,
    "statusInstanceChanged": StatusInstanceChanged,
    "deviceInfo": DeviceInfo,
    "incomingCall": IncomingCall,
    "outgoingCall": OutgoingCall,
    "incomingBlock": IncomingBlock,
    "quotaExceeded": QuotaExceeded,
}

# typeWebhook with a second payload shape -> (key of the default shape, key of the second
# shape, model of the second shape). The second model is used only when the body has its key
# and not the default one.
WEBHOOK_SHAPES: dict[str, tuple[str, str, type[Webhook]]] = {
    "deviceInfo": ("deviceData", "avatarInfo", ContactAvatar),
}


def model_for(document: Any) -> type[Webhook]:
    """The model a webhook document validates into."""
    if not isinstance(document, dict):
        return UnknownWebhook  # fails validation: a webhook is an object
    type_webhook = document.get("typeWebhook")
    if not isinstance(type_webhook, str):
        return UnknownWebhook  # fails validation: typeWebhook must be a string
    model = WEBHOOK_MODELS.get(type_webhook, UnknownWebhook)
    if shape := WEBHOOK_SHAPES.get(type_webhook):
        default_key, variant_key, variant = shape
        if default_key not in document and variant_key in document:
            model = variant
    return model


def parse_webhook(document: dict) -> Webhook:
    """Validate a webhook into its model; raises pydantic.ValidationError if it does not fit."""
    return model_for(document).model_validate(document)
