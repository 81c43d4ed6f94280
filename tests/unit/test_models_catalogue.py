"""The model catalogue: every typeWebhook and typeMessage GREEN-API documents, every documented
variant and type drift (green-api-webhooks.md, section 8), and what must still fail."""

import copy
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from greenhook import routing
from greenhook.models import (
    MESSAGE_MODELS,
    WEBHOOK_MODELS,
    AudioMessage,
    ButtonsMessage,
    ButtonsResponseMessage,
    ContactAvatar,
    ContactMessage,
    ContactsArrayMessage,
    DeletedMessage,
    DeviceInfo,
    DocumentMessage,
    EditedMessage,
    ExtendedTextMessage,
    GroupInviteMessage,
    ImageMessage,
    IncomingBlock,
    IncomingCall,
    IncomingMessageReceived,
    InteractiveButtonsMessage,
    InteractiveButtonsReplyMessage,
    LegacyQuotedMessage,
    ListMessage,
    ListResponseMessage,
    LocationMessage,
    MessageWebhook,
    OutgoingAPIMessageReceived,
    OutgoingCall,
    OutgoingMessageReceived,
    OutgoingMessageStatus,
    PollMessage,
    PollUpdateMessage,
    QuotaExceeded,
    ReactionMessage,
    StateInstanceChanged,
    StatusInstanceChanged,
    StickerMessage,
    TemplateButtonsReplyMessage,
    TemplateMessage,
    TextMessage,
    UnknownMessage,
    UnknownWebhook,
    VideoMessage,
    Webhook,
    normalise_call_status,
    parse_webhook,
)

EVENTS = Path(__file__).resolve().parents[2] / "events"
IN, OUT, API = IncomingMessageReceived, OutgoingMessageReceived, OutgoingAPIMessageReceived

# Sample file -> the webhook model and message model it must parse into (written by hand,
# not derived from greenhook's own tables).
WEBHOOK_SAMPLES = {
    "incomingMessageReceived.json": IN,
    "outgoingMessageStatus.json": OutgoingMessageStatus,
    "stateInstanceChanged.json": StateInstanceChanged,
    "webhooks/incomingMessageReceived.json": IN,
    "webhooks/outgoingMessageReceived.json": OUT,
    "webhooks/outgoingAPIMessageReceived.json": API,
    "webhooks/outgoingMessageStatus.json": OutgoingMessageStatus,
    "webhooks/stateInstanceChanged.json": StateInstanceChanged,
    "webhooks/statusInstanceChanged.json": StatusInstanceChanged,
    "webhooks/deviceInfo.json": DeviceInfo,
    "webhooks/deviceInfo-avatarInfo.json": ContactAvatar,
    "webhooks/incomingCall.json": IncomingCall,
    "webhooks/outgoingCall.json": OutgoingCall,
    "webhooks/incomingBlock.json": IncomingBlock,
    "webhooks/quotaExceeded.json": QuotaExceeded,
    "variants/incomingCall-2021.json": IncomingCall,
    "variants/outgoingMessageStatus-2023.json": OutgoingMessageStatus,
    "variants/outgoingMessageStatus-failed.json": OutgoingMessageStatus,
}

# Message sample -> webhook model, message model, type_message, text, stanza_id.
MESSAGE_SAMPLES = {
    "incomingMessageReceived.json": (
        IN, TextMessage, "textMessage", "Привет! 👋 Is the order ready?", None,
    ),
    "webhooks/incomingMessageReceived.json": (
        IN, TextMessage, "textMessage", "Здравствуйте! Где мой заказ? 📦", None,
    ),
    "webhooks/outgoingMessageReceived.json": (
        OUT, TextMessage, "textMessage", "Уже едет к вам 🚗", None,
    ),
    "webhooks/outgoingAPIMessageReceived.json": (
        API, TextMessage, "textMessage", "Спасибо за заказ! 💚", None,
    ),
    "messages/incoming-textMessage.json": (
        IN, TextMessage, "textMessage", "Заказ №1542 уже в пути? 🙏", None,
    ),
    "messages/incoming-extendedTextMessage.json": (
        IN, ExtendedTextMessage, "extendedTextMessage",
        "Вот инструкция: https://green-api.com/en/docs/", "3EB0C767D71D8C3C1A29",
    ),
    "messages/incoming-quotedMessage.json": (
        IN, LegacyQuotedMessage, "quotedMessage", "Да, именно этот", "BAE5367237E13A87",
    ),
    "messages/incoming-imageMessage.json": (
        IN, ImageMessage, "imageMessage", "Фото чека 🧾", None,
    ),
    "messages/incoming-videoMessage.json": (IN, VideoMessage, "videoMessage", None, None),
    "messages/incoming-documentMessage.json": (
        IN, DocumentMessage, "documentMessage", None, "BAE5F1A2B3C4D5E6",
    ),
    "messages/incoming-audioMessage.json": (IN, AudioMessage, "audioMessage", None, None),
    "messages/incoming-stickerMessage.json": (IN, StickerMessage, "stickerMessage", None, None),
    "messages/incoming-locationMessage.json": (
        IN, LocationMessage, "locationMessage", "Красная площадь", None,
    ),
    "messages/incoming-contactMessage.json": (
        IN, ContactMessage, "contactMessage", "Анна Смирнова", "BAE5A0B1C2D3E4F5",
    ),
    "messages/incoming-contactsArrayMessage.json": (
        IN, ContactsArrayMessage, "contactsArrayMessage", "Анна Смирнова, John Doe", None,
    ),
    "messages/incoming-reactionMessage.json": (
        IN, ReactionMessage, "reactionMessage", "👍", "BAE5C0FFEE123456",
    ),
    "messages/incoming-groupInviteMessage.json": (
        IN, GroupInviteMessage, "groupInviteMessage", "Приглашение в мою группу WhatsApp", None,
    ),
    "messages/incoming-pollMessage.json": (
        IN, PollMessage, "pollMessage", "Когда созвонимся?", None,
    ),
    "messages/incoming-pollUpdateMessage.json": (
        IN, PollUpdateMessage, "pollUpdateMessage", None, "90110A1B2C3D4E5F60718293A4B5C6D7",
    ),
    "messages/incoming-editedMessage.json": (
        IN, EditedMessage, "editedMessage",
        "Заказ №1543 уже в пути? 🙏", "A1B2C3D4E5F60718293A4B5C6D7E8F90",
    ),
    "messages/incoming-deletedMessage.json": (
        IN, DeletedMessage, "deletedMessage", None, "B7D2E5A9C3F1084E6A2D9B5C7E1F3A08",
    ),
    "messages/incoming-buttonsMessage.json": (
        IN, ButtonsMessage, "buttonsMessage", "Выберите цвет", None,
    ),
    "messages/incoming-templateMessage.json": (
        IN, TemplateMessage, "templateMessage", "Ваш заказ готов к выдаче", None,
    ),
    "messages/incoming-listMessage.json": (
        IN, ListMessage, "listMessage", "Выберите время доставки", None,
    ),
    "messages/incoming-buttonsResponseMessage.json": (
        IN, ButtonsResponseMessage, "buttonsResponseMessage", "🔵 Синий", "BAE5B0770A5A1B2C",
    ),
    "messages/incoming-templateButtonsReplyMessage.json": (
        IN, TemplateButtonsReplyMessage, "templateButtonsReplyMessage",
        "Спасибо", "BAE57E3A1A7E1B2C",
    ),
    "messages/incoming-listResponseMessage.json": (
        IN, ListResponseMessage, "listResponseMessage", "15:00\u201318:00", "BAE511577E55A1B2",
    ),
    "messages/incoming-interactiveButtons.json": (
        IN, InteractiveButtonsMessage, "interactiveButtons", "Ваша скидка 10% 🎁", None,
    ),
    "messages/incoming-interactiveButtonsReply.json": (
        IN, InteractiveButtonsReplyMessage, "interactiveButtonsReply",
        "Подтвердить заказ №1542?", None,
    ),
    "messages/outgoing-textMessage.json": (
        OUT, TextMessage, "textMessage", "Добрый день! Чек получили 👍", None,
    ),
    "messages/outgoingAPI-textMessage.json": (
        API, TextMessage, "textMessage",
        "Да, курьер будет через 20 минут 🚚", "A1B2C3D4E5F60718293A4B5C6D7E8F90",
    ),
    "messages/outgoingAPI-extendedTextMessage.json": (
        API, ExtendedTextMessage, "extendedTextMessage",
        "Отследить заказ: https://example.com/track/1542", None,
    ),
    "messages/outgoingAPI-imageMessage.json": (
        API, ImageMessage, "imageMessage", "Ваш заказ 📦", None,
    ),
    "messages/outgoing-videoMessage.json": (
        OUT, VideoMessage, "videoMessage", "Как собрать шкаф", None,
    ),
    "messages/outgoingAPI-documentMessage.json": (
        API, DocumentMessage, "documentMessage", "Счёт на оплату", None,
    ),
    "messages/outgoing-audioMessage.json": (OUT, AudioMessage, "audioMessage", None, None),
    "messages/outgoing-stickerMessage.json": (OUT, StickerMessage, "stickerMessage", None, None),
    "messages/outgoingAPI-locationMessage.json": (
        API, LocationMessage, "locationMessage", "Пункт выдачи Green Shop", None,
    ),
    "messages/outgoingAPI-contactMessage.json": (
        API, ContactMessage, "contactMessage", "Анна Смирнова", None,
    ),
    "messages/outgoing-contactsArrayMessage.json": (
        OUT, ContactsArrayMessage, "contactsArrayMessage", "Анна Смирнова, John Doe", None,
    ),
    "messages/outgoing-reactionMessage.json": (
        OUT, ReactionMessage, "reactionMessage", "❤️", "A1B2C3D4E5F60718293A4B5C6D7E8F90",
    ),
    "messages/outgoingAPI-pollMessage.json": (
        API, PollMessage, "pollMessage", "Что добавить в ассортимент?", None,
    ),
    "messages/outgoing-editedMessage.json": (
        OUT, EditedMessage, "editedMessage",
        "Добрый день! Чек получили, спасибо 👍", "3EB0C431C26A1013A4E1",
    ),
    "messages/outgoingAPI-deletedMessage.json": (
        API, DeletedMessage, "deletedMessage", None, "BAE5E0A1B2C3D4E5",
    ),
    "messages/outgoingAPI-interactiveButtons.json": (
        API, InteractiveButtonsMessage, "interactiveButtons", "Счёт №1542 на 2 990 ₽", None,
    ),
    "messages/outgoingAPI-interactiveButtonsReply.json": (
        API, InteractiveButtonsReplyMessage, "interactiveButtonsReply",
        "Когда удобно получить заказ?", None,
    ),
    "variants/incoming-ContactsArrayMessage-2023.json": (
        IN, ContactsArrayMessage, "contactsArrayMessage", "Анна Смирнова, John Doe", None,
    ),
    "variants/incoming-pollMessage-2023.json": (
        IN, PollMessage, "pollMessage", "Куда поедем?", None,
    ),
    "variants/incoming-templateButtonReplyMessage.json": (
        IN, TemplateButtonsReplyMessage, "templateButtonsReplyMessage",
        "Позвонить", "BAE57E3A1A7E1B2C",
    ),
    "variants/incoming-groupInviteMessage-long.json": (
        IN, GroupInviteMessage, "groupInviteMessage", "Соседи по даче 🏡", None,
    ),
    "variants/outgoingAPI-interactiveButtons-sdk.json": (
        API, InteractiveButtonsMessage, "interactiveButtons", "Счёт №1543 на 1 490 ₽", None,
    ),
    "variants/incoming-interactiveButtonsReply-selection.json": (
        IN, InteractiveButtonsReplyMessage, "interactiveButtonsReply",
        "Сегодня", "BAE5A8F2C1D7E930",
    ),
}  # fmt: skip

ALL_SAMPLES = sorted({*WEBHOOK_SAMPLES, *MESSAGE_SAMPLES})

# Values the models coerce on purpose (documented as strings, used as numbers).
COERCED = {
    "messages/incoming-templateButtonsReplyMessage.json": (
        ("messageData", "templateButtonReplyMessage", "selectedIndex"),
        3,
    ),
}


def load(name: str) -> dict:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def dump(webhook: Webhook) -> dict:
    """The webhook as GREEN-API's JSON again (aliases, only what was sent)."""
    return webhook.model_dump(mode="json", by_alias=True, exclude_unset=True)


def message(type_message: str, **data) -> dict:
    """An incoming message webhook around one messageData."""
    return {
        "typeWebhook": "incomingMessageReceived",
        "instanceData": {"idInstance": 1101000001, "wid": "79001234567@c.us"},
        "timestamp": 1700000000,
        "idMessage": "BAE5F4886F6F2D05",
        "senderData": {"chatId": "79876543210@c.us", "sender": "79876543210@c.us"},
        "messageData": {"typeMessage": type_message, **data},
    }


# --- the catalogue ------------------------------------------------------------------------------


def test_every_sample_file_has_an_expected_model():
    on_disk = {
        p.relative_to(EVENTS).as_posix()
        for p in EVENTS.rglob("*.json")
        if "envelopes" not in p.relative_to(EVENTS).parts
    }
    assert on_disk == set(ALL_SAMPLES)


def test_samples_cover_every_documented_type():
    documented_webhooks = {
        "incomingMessageReceived", "outgoingMessageReceived", "outgoingAPIMessageReceived",
        "outgoingMessageStatus", "stateInstanceChanged", "statusInstanceChanged", "deviceInfo",
        "incomingCall", "outgoingCall", "incomingBlock", "quotaExceeded",
    }  # fmt: skip
    documented_messages = {
        "textMessage", "extendedTextMessage", "quotedMessage", "imageMessage", "videoMessage",
        "documentMessage", "audioMessage", "stickerMessage", "locationMessage",
        "contactMessage", "contactsArrayMessage", "reactionMessage", "groupInviteMessage",
        "pollMessage", "pollUpdateMessage", "editedMessage", "deletedMessage",
        "buttonsMessage", "templateMessage", "listMessage", "buttonsResponseMessage",
        "templateButtonsReplyMessage", "listResponseMessage", "interactiveButtons",
        "interactiveButtonsReply",
    }  # fmt: skip
    assert set(WEBHOOK_MODELS) == documented_webhooks
    assert documented_messages <= set(MESSAGE_MODELS)
    assert {load(n)["typeWebhook"] for n in ALL_SAMPLES} == documented_webhooks
    assert {types[2] for types in MESSAGE_SAMPLES.values()} == documented_messages
    # incoming and outgoing both exist for every type GREEN-API documents on both sides
    for both_ways in ("textMessage", "imageMessage", "editedMessage", "deletedMessage"):
        directions = {t[0] for t in MESSAGE_SAMPLES.values() if t[2] == both_ways}
        assert IN in directions and directions & {OUT, API}


@pytest.mark.parametrize("name", ALL_SAMPLES)
def test_sample_parses_into_its_specific_model(name):
    webhook = parse_webhook(load(name))
    if name in MESSAGE_SAMPLES:
        webhook_model, message_model, *_ = MESSAGE_SAMPLES[name]
        assert type(webhook.messageData) is message_model
    else:
        webhook_model = WEBHOOK_SAMPLES[name]
    assert type(webhook) is webhook_model
    assert not isinstance(webhook, UnknownWebhook)


@pytest.mark.parametrize("name", ALL_SAMPLES)
def test_sample_dumps_back_to_what_was_sent(name):
    document = load(name)
    expected = copy.deepcopy(document)
    if name in COERCED:
        *path, key = COERCED[name][0]
        target = expected
        for part in path:
            target = target[part]
        target[key] = COERCED[name][1]
    assert dump(parse_webhook(document)) == expected


@pytest.mark.parametrize("name", sorted(MESSAGE_SAMPLES))
def test_message_convenience_properties(name):
    document = load(name)
    webhook = parse_webhook(document)
    webhook_model, _, type_message, text, stanza_id = MESSAGE_SAMPLES[name]
    assert isinstance(webhook, MessageWebhook)
    assert webhook.chat_id == document["senderData"]["chatId"]
    assert webhook.id_message == document["idMessage"]
    assert webhook.sender == document["senderData"]["sender"]
    assert webhook.type_message == type_message
    assert webhook.text == text
    assert webhook.stanza_id == stanza_id
    assert webhook.direction == ("incoming" if webhook_model is IN else "outgoing")


@pytest.mark.parametrize("name", ALL_SAMPLES)
def test_model_chat_matches_the_chat_ingest_routes_by(name):
    document = load(name)
    assert parse_webhook(document).chat_id == routing.chat_id_of(document)


# --- section 8: documented variants and type drift ---------------------------------------------


def test_template_button_reply_in_both_spellings():
    table = parse_webhook(load("messages/incoming-templateButtonsReplyMessage.json"))
    example = parse_webhook(load("variants/incoming-templateButtonReplyMessage.json"))
    for webhook in (table, example):
        assert isinstance(webhook.messageData, TemplateButtonsReplyMessage)
        assert webhook.type_message == "templateButtonsReplyMessage"
    assert table.messageData.typeMessage == "templateButtonsReplyMessage"
    assert example.messageData.typeMessage == "templateButtonReplyMessage"
    # the table's spelling as the object key, too
    keyed = parse_webhook(
        message(
            "templateButtonsReplyMessage",
            templateButtonsReplyMessage={"stanzaId": "BAE5", "selectedDisplayText": "Да"},
        )
    )
    assert keyed.text == "Да"
    assert keyed.stanza_id == "BAE5"


def test_template_button_reply_without_its_object_fails():
    with pytest.raises(ValidationError):
        parse_webhook(message("templateButtonReplyMessage"))


def test_selected_index_as_number_or_string():
    table = parse_webhook(load("messages/incoming-templateButtonsReplyMessage.json"))
    example = parse_webhook(load("variants/incoming-templateButtonReplyMessage.json"))
    assert table.messageData.reply.selectedIndex == 3  # "3" in the body
    assert example.messageData.reply.selectedIndex == 2  # 2 in the body


def test_contacts_array_current_nested_and_2023_flat():
    current = parse_webhook(load("messages/incoming-contactsArrayMessage.json")).messageData
    old = parse_webhook(load("variants/incoming-ContactsArrayMessage-2023.json")).messageData
    assert isinstance(current, ContactsArrayMessage)
    assert isinstance(old, ContactsArrayMessage)
    assert old.typeMessage == "ContactsArrayMessage"
    assert old.type_message == "contactsArrayMessage"
    assert [c.displayName for c in current.contact_list] == ["Анна Смирнова", "John Doe"]
    assert [c.vcard for c in old.contact_list] == [c.vcard for c in current.contact_list]


def test_contacts_array_without_contacts_fails():
    with pytest.raises(ValidationError):
        parse_webhook(message("contactsArrayMessage", forwardingScore=0))


def test_polls_current_and_2023():
    current = parse_webhook(load("messages/incoming-pollMessage.json")).messageData
    old = parse_webhook(load("variants/incoming-pollMessage-2023.json")).messageData
    assert current.poll.multiple_answers is False
    assert [o.optionName for o in current.poll.options] == ["Сегодня в 18:00", "Завтра утром ☀️"]
    assert old.pollCreationMessage is not None
    assert old.poll.selectableOptionsCount == 0
    assert old.poll.multiple_answers is True  # 0 = any number of options
    single = parse_webhook(
        message(
            "pollMessage",
            pollCreationMessage={"name": "?", "options": [], "selectableOptionsCount": 1},
        )
    )
    assert single.messageData.poll.multiple_answers is False


def test_poll_without_poll_data_fails():
    with pytest.raises(ValidationError):
        parse_webhook(message("pollMessage"))


def test_poll_update_references_the_poll_and_counts_voters():
    webhook = parse_webhook(load("messages/incoming-pollUpdateMessage.json"))
    votes = {v.optionName: v.optionVoters for v in webhook.messageData.pollMessageData.votes}
    assert votes == {"Сегодня в 18:00": ["79161234567@c.us"], "Завтра утром ☀️": []}
    assert webhook.stanza_id == "90110A1B2C3D4E5F60718293A4B5C6D7"


@pytest.mark.parametrize(
    ("status", "normalised"),
    [
        ("hangUp", "hungUp"),
        ("hungUp", "hungUp"),
        ("missed", "declined"),
        ("declined", "declined"),
        ("offer", "offer"),
        ("pickUp", "pickUp"),
        ("somethingNew", "somethingNew"),
    ],
)
def test_call_statuses_old_and_new_spellings(status, normalised):
    document = load("webhooks/incomingCall.json") | {"status": status}
    webhook = parse_webhook(document)
    assert webhook.status == status  # kept as sent
    assert webhook.normalised_status == normalised
    assert normalise_call_status(status) == normalised


def test_oldest_incoming_call_has_no_status():
    webhook = parse_webhook(load("variants/incomingCall-2021.json"))
    assert isinstance(webhook, IncomingCall)
    assert webhook.status is None
    assert webhook.normalised_status is None
    assert webhook.chat_id == "79876543210@c.us"
    assert webhook.id_message == "104179EDB7F5328988D8834107EEBE51"


def test_outgoing_call_with_participants_and_old_spelling():
    document = load("webhooks/outgoingCall.json")
    webhook = parse_webhook(document)
    assert webhook.isVideo is False
    assert webhook.duration == 42
    assert [(p.id, p.status) for p in webhook.participants] == [("79876543210@c.us", "pickUp")]
    hang_up = parse_webhook(document | {"status": "hangUp", "participants": [{"wid": "7@c.us"}]})
    assert hang_up.normalised_status == "hungUp"
    assert hang_up.participants[0].model_dump()["wid"] == "7@c.us"  # Java SDK naming kept


def test_outgoing_call_without_status_fails():
    document = load("webhooks/outgoingCall.json")
    del document["status"]
    with pytest.raises(ValidationError):
        parse_webhook(document)


def test_interactive_buttons_doc_and_sdk_field_names():
    doc = parse_webhook(load("messages/outgoingAPI-interactiveButtons.json")).messageData
    sdk = parse_webhook(load("variants/outgoingAPI-interactiveButtons-sdk.json")).messageData
    assert (doc.interactiveButtons.title, doc.interactiveButtons.footer_text) == (
        "Оплата",
        "Green Shop",
    )
    assert (sdk.interactiveButtons.title, sdk.interactiveButtons.footer_text) == (
        "Оплата",
        "Green Shop",
    )
    assert sdk.text == "Счёт №1543 на 1 490 ₽"
    assert [b.type for b in doc.interactiveButtons.buttons] == ["url", "copy"]
    assert doc.interactiveButtons.buttons[1].copyCode == "1542"


def test_interactive_buttons_reply_as_message_or_as_selection():
    buttons = parse_webhook(load("messages/incoming-interactiveButtonsReply.json"))
    selection = parse_webhook(load("variants/incoming-interactiveButtonsReply-selection.json"))
    assert [b.buttonId for b in buttons.messageData.interactiveButtonsReply.buttons] == [
        "yes",
        "no",
    ]
    assert selection.messageData.templateButtonReplyMessage.selectedId == "today"
    assert selection.text == "Сегодня"
    assert selection.stanza_id == "BAE5A8F2C1D7E930"


def test_interactive_buttons_reply_singular_spelling_from_the_doc_table():
    webhook = parse_webhook(
        message("interactiveButtonReply", interactiveButtonsReply={"body": "Да?", "buttons": []})
    )
    assert isinstance(webhook.messageData, InteractiveButtonsReplyMessage)
    assert webhook.type_message == "interactiveButtonsReply"
    assert webhook.text == "Да?"


def test_interactive_buttons_reply_without_content_fails():
    with pytest.raises(ValidationError):
        parse_webhook(message("interactiveButtonsReply"))


def test_quota_exceeded_without_timestamp_and_with_string_numbers():
    document = load("webhooks/quotaExceeded.json")
    assert "timestamp" not in document
    webhook = parse_webhook(document)
    assert webhook.timestamp is None
    assert (webhook.quotaData.used, webhook.quotaData.total) == (3, 3)
    document["quotaData"] |= {"used": "120", "total": "100"}
    as_strings = parse_webhook(document)
    assert (as_strings.quotaData.used, as_strings.quotaData.total) == (120, 100)


def test_list_type_and_template_index_as_numbers_or_strings():
    list_reply = load("messages/incoming-listResponseMessage.json")
    list_reply["messageData"]["listResponseMessage"]["listType"] = "1"
    assert parse_webhook(list_reply).messageData.listResponseMessage.listType == 1
    template = load("messages/incoming-templateMessage.json")
    template["messageData"]["templateMessage"]["buttons"][0]["index"] = "1"
    buttons = parse_webhook(template).messageData.templateMessage.buttons
    assert [b.index for b in buttons] == [1, 2, 3]
    assert buttons[1].callButton.phoneNumber == "+7 900 123-45-67"


def test_incoming_block_has_a_string_chat_id():
    webhook = parse_webhook(load("webhooks/incomingBlock.json"))
    assert (webhook.chat_id, webhook.chatState) == ("79876543210@c.us", "blocked")
    # The table's "integer" is a doc error; a number is not a chat id.
    with pytest.raises(ValidationError):
        parse_webhook(load("webhooks/incomingBlock.json") | {"chatId": 79876543210})


def test_contact_avatar_reuses_device_info_with_string_or_boolean_chat_id():
    document = load("webhooks/deviceInfo-avatarInfo.json")
    webhook = parse_webhook(document)
    assert isinstance(webhook, ContactAvatar)
    assert webhook.avatarInfo.chat_id == "79876543210@c.us"
    assert webhook.chat_id is None  # instance-level, as ingest routes it
    failed = parse_webhook(
        document
        | {"avatarInfo": {"chatId": True, "existsWhatsapp": False, "urlAvatar": "", "reason": "x"}}
    )
    assert isinstance(failed, ContactAvatar)
    assert failed.avatarInfo.chatId is True
    assert failed.avatarInfo.chat_id is None
    assert failed.avatarInfo.reason == "x"


def test_device_info_keeps_device_data():
    webhook = parse_webhook(load("webhooks/deviceInfo.json"))
    assert isinstance(webhook, DeviceInfo)
    assert (webhook.deviceData.deviceModel, webhook.deviceData.battery) == ("SM-A525F", 87)


def test_device_info_without_either_shape_fails():
    document = load("webhooks/deviceInfo.json")
    del document["deviceData"]
    with pytest.raises(ValidationError):
        parse_webhook(document)


def test_2023_status_without_chat_id_and_with_a_repeated_timestamp():
    body = """{"typeWebhook": "outgoingMessageStatus", "timestamp": 1586700801,
        "instanceData": {"idInstance": 1234, "wid": "11001234567@c.us", "typeInstance": "whatsapp"},
        "timestamp": 1586700802, "idMessage": "3EB0608D6A2901063D63", "status": "noAccount",
        "sendByApi": true}"""
    webhook = parse_webhook(json.loads(body))
    assert isinstance(webhook, OutgoingMessageStatus)
    assert webhook.chat_id is None
    assert webhook.timestamp == 1586700802  # the last one, as json.loads keeps it
    assert parse_webhook(load("variants/outgoingMessageStatus-2023.json")).chatId is None


def test_status_with_error_description():
    failed = parse_webhook(load("variants/outgoingMessageStatus-failed.json"))
    assert failed.status == "failed"
    assert failed.description.startswith("SWE004:")
    no_account = load("webhooks/outgoingMessageStatus.json") | {
        "status": "noAccount",
        "description": "SWE004: 1000",
    }
    assert parse_webhook(no_account).description == "SWE004: 1000"


@pytest.mark.parametrize(
    ("expiration", "value"),
    [
        ("0", 0),
        ("1700604800", 1700604800),
        (1700604800, 1700604800),
        ({"low": 1700604800, "high": 0, "unsigned": False}, 1700604800),
        ({"low": 0, "high": 1, "unsigned": False}, 2**32),
        ({"low": -1, "high": 0, "unsigned": True}, 2**32 - 1),
        (None, None),
    ],
)
def test_invite_expiration_as_string_number_or_protobuf_long(expiration, value):
    document = load("messages/incoming-groupInviteMessage.json")
    document["messageData"]["groupInviteMessageData"]["inviteExpiration"] = expiration
    data = parse_webhook(document).messageData.groupInviteMessageData
    assert data.invite_expiration == value


def test_invite_expiration_sample_as_long():
    webhook = parse_webhook(load("variants/incoming-groupInviteMessage-long.json"))
    assert webhook.messageData.groupInviteMessageData.invite_expiration == 1700604800


@pytest.mark.parametrize("state", ["suspended", "yellowCard", "blocked", "sleepMode", "starting"])
def test_instance_states_old_and_new(state):
    document = load("webhooks/stateInstanceChanged.json") | {"stateInstance": state}
    assert parse_webhook(document).stateInstance == state


def test_yellow_card_as_a_message_status():
    document = load("webhooks/outgoingMessageStatus.json") | {"status": "yellowCard"}
    assert parse_webhook(document).status == "yellowCard"


def test_status_instance_changed():
    webhook = parse_webhook(load("webhooks/statusInstanceChanged.json"))
    assert webhook.statusInstance == "offline"


def test_optional_fields_may_be_missing():
    # senderContactName and chatName absent
    video = parse_webhook(load("messages/incoming-videoMessage.json"))
    assert video.senderData.chatName is None
    assert video.senderData.senderContactName is None
    # caption and jpegThumbnail absent
    assert video.messageData.fileMessageData.caption is None
    assert video.messageData.fileMessageData.jpegThumbnail is None
    # fileName absent (sticker), description absent on a status
    sticker = load("messages/incoming-stickerMessage.json")
    assert "fileName" not in sticker["messageData"]["fileMessageData"]
    assert parse_webhook(sticker).messageData.fileMessageData.fileName is None
    assert parse_webhook(load("webhooks/outgoingMessageStatus.json")).description is None
    # extendedTextMessage without description, title, jpegThumbnail
    bare = parse_webhook(message("extendedTextMessage", extendedTextMessageData={"text": "hi"}))
    assert bare.messageData.extendedTextMessageData.description is None
    assert bare.text == "hi"


def test_lid_chats_are_kept_as_they_are():
    webhook = parse_webhook(load("messages/incoming-imageMessage.json"))
    assert webhook.chat_id == "246813579024680@lid"
    assert webhook.sender == "246813579024680@lid"
    assert not webhook.is_group


def test_group_message_from_a_participant():
    webhook = parse_webhook(load("messages/incoming-textMessage.json"))
    assert webhook.is_group
    assert webhook.chat_id == "120363043968066561@g.us"
    assert webhook.sender == "79876543210@c.us"
    old_style = parse_webhook(load("messages/incoming-audioMessage.json"))
    assert old_style.is_group
    assert old_style.sender == "79161234567@c.us"


@pytest.mark.parametrize("id_instance", [7103220992, "7103220992"])
def test_instance_id_above_2_31_and_empty_wid_before_authorization(id_instance):
    document = load("webhooks/stateInstanceChanged.json")
    document["instanceData"]["idInstance"] = id_instance
    webhook = parse_webhook(document)
    assert webhook.id_instance == 7103220992 > 2**31
    assert webhook.instanceData.wid == ""
    assert webhook.stateInstance == "notAuthorized"


def test_v3_instance_type():
    document = load("webhooks/statusInstanceChanged.json")
    document["instanceData"]["typeInstance"] = "v3"
    assert parse_webhook(document).instanceData.typeInstance == "v3"


def test_audio_with_a_wrong_mime_type_and_error_markers():
    document = load("messages/incoming-audioMessage.json")
    document["messageData"]["fileMessageData"] |= {
        "mimeType": "image/jpeg",
        "downloadUrl": "{{SWE002}}",
    }
    data = parse_webhook(document).messageData.fileMessageData
    assert (data.mimeType, data.downloadUrl) == ("image/jpeg", "{{SWE002}}")
    marker = parse_webhook(message("textMessage", textMessageData={"textMessage": "{{SWE001}}"}))
    assert marker.text == "{{SWE001}}"


def test_quoted_message_copies_quoted_content():
    document = parse_webhook(load("messages/incoming-documentMessage.json"))
    quoted = document.messageData.quotedMessage
    assert (quoted.typeMessage, quoted.location.latitude) == ("locationMessage", 55.8063)
    contact = parse_webhook(load("messages/incoming-contactMessage.json"))
    assert contact.messageData.quotedMessage.text.startswith("Пришлите контакт курьера")
    reply = parse_webhook(load("messages/outgoingAPI-textMessage.json"))
    assert reply.messageData.quotedMessage.text == "Заказ №1542 уже в пути? 🙏"
    reaction = parse_webhook(load("messages/incoming-reactionMessage.json"))
    assert reaction.messageData.quotedMessage.typeMessage is None  # only stanzaId + participant


# --- what must fail ------------------------------------------------------------------------------


def _without(document: dict, *path: str) -> dict:
    document = copy.deepcopy(document)
    target = document
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return document


def _with(document: dict, value, *path: str) -> dict:
    document = copy.deepcopy(document)
    target = document
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return document


STATUS = load("webhooks/outgoingMessageStatus.json")
TEXT = load("messages/incoming-textMessage.json")


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(_without(STATUS, "idMessage"), id="status without idMessage"),
        pytest.param(_with(STATUS, "", "idMessage"), id="status with an empty idMessage"),
        pytest.param(_without(STATUS, "status"), id="status without status"),
        pytest.param(_with(STATUS, 1, "status"), id="status that is a number"),
        pytest.param(_with(STATUS, None, "status"), id="status that is null"),
        pytest.param(_with(STATUS, ["read"], "status"), id="status that is a list"),
        pytest.param(_with(STATUS, "yesterday", "timestamp"), id="timestamp not a number"),
        pytest.param(_without(TEXT, "senderData"), id="message without senderData"),
        pytest.param(_without(TEXT, "senderData", "chatId"), id="message without chatId"),
        pytest.param(_without(TEXT, "idMessage"), id="message without idMessage"),
        pytest.param(_without(TEXT, "messageData"), id="message without messageData"),
        pytest.param(
            _without(TEXT, "messageData", "typeMessage"), id="messageData without typeMessage"
        ),
        pytest.param(
            _with(TEXT, 5, "messageData", "typeMessage"), id="typeMessage that is a number"
        ),
        pytest.param(_with(TEXT, "text", "messageData"), id="messageData that is a string"),
        pytest.param(
            _without(TEXT, "messageData", "textMessageData"), id="text without textMessageData"
        ),
        pytest.param(
            _with(TEXT, 42, "messageData", "textMessageData", "textMessage"),
            id="textMessage that is a number",
        ),
        pytest.param(
            _with(TEXT, "soon", "instanceData", "idInstance"), id="idInstance not a number"
        ),
        pytest.param(
            message("reactionMessage", extendedTextMessageData={"text": "👍"}),
            id="reaction without quotedMessage",
        ),
        pytest.param(
            message("editedMessage", editedMessageData={"textMessage": "new"}),
            id="edit without stanzaId",
        ),
        pytest.param(
            message("deletedMessage", deletedMessageData={}), id="delete without stanzaId"
        ),
        pytest.param(
            message("locationMessage", locationMessageData={"latitude": "north", "longitude": 1}),
            id="latitude not a number",
        ),
        pytest.param(
            message("imageMessage", fileMessageData={"caption": "no url"}),
            id="file without downloadUrl",
        ),
        pytest.param(
            _with(load("webhooks/stateInstanceChanged.json"), 1, "stateInstance"),
            id="state that is a number",
        ),
        pytest.param(_without(load("webhooks/incomingCall.json"), "from"), id="call without from"),
        pytest.param(
            _with(load("webhooks/quotaExceeded.json"), "many", "quotaData", "used"),
            id="quota used not a number",
        ),
        pytest.param(["not", "an", "object"], id="not an object"),
    ],
)
def test_webhooks_that_do_not_fit_raise(document):
    with pytest.raises(ValidationError):
        parse_webhook(document)


# --- unknown things are kept ------------------------------------------------------------------


def test_unknown_fields_are_kept_at_every_level():
    document = load("messages/incoming-extendedTextMessage.json")
    document["newTopLevel"] = {"a": [1, 2]}
    document["instanceData"]["region"] = "eu"
    document["senderData"]["senderLid"] = "246813579024680@lid"
    document["messageData"]["newMessageField"] = True
    document["messageData"]["extendedTextMessageData"]["inviteLinkGroupType"] = "DEFAULT"
    document["messageData"]["quotedMessage"]["isViewOnce"] = False
    webhook = parse_webhook(document)
    assert type(webhook.messageData) is ExtendedTextMessage
    assert dump(webhook) == document
    assert webhook.model_extra == {"newTopLevel": {"a": [1, 2]}}


def test_unknown_type_message_parses_into_the_fallback():
    document = message(
        "statusExtendedTextMessage",
        statusExtendedTextMessageData={"text": "Новый статус ✨", "backgroundColor": "#00FF00"},
        quotedMessage={"stanzaId": "BAE5QUOTED", "participant": "7@c.us"},
    )
    webhook = parse_webhook(document)
    assert type(webhook) is IncomingMessageReceived
    assert type(webhook.messageData) is UnknownMessage
    assert webhook.type_message == "statusExtendedTextMessage"
    assert webhook.text is None
    assert webhook.stanza_id == "BAE5QUOTED"
    assert dump(webhook) == document


@settings(max_examples=200, deadline=None)
@given(
    type_message=st.text(min_size=1).filter(lambda t: t not in MESSAGE_MODELS),
    payload=st.dictionaries(st.text(), st.integers() | st.text() | st.booleans(), max_size=3),
)
def test_any_new_type_message_parses_into_the_fallback(type_message, payload):
    document = message(type_message)
    document["messageData"]["payload"] = payload
    webhook = parse_webhook(document)
    assert type(webhook.messageData) is UnknownMessage
    assert webhook.type_message == type_message
    assert dump(webhook) == document


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


def _paths(value, prefix=()):
    """Every key path in a JSON document."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*prefix, key)
            yield from _paths(child, (*prefix, key))


@settings(max_examples=300, deadline=None)
@given(data=st.data(), name=st.sampled_from(ALL_SAMPLES), replacement=JSON)
def test_any_value_anywhere_parses_or_raises_validation_error(data, name, replacement):
    document = load(name)
    path = data.draw(st.sampled_from(list(_paths(document))))
    document = _with(document, replacement, *path)
    try:
        webhook = parse_webhook(document)
    except ValidationError:
        return
    # whatever parsed, the properties storage reads work
    assert webhook.chat_id is None or isinstance(webhook.chat_id, str)
    assert webhook.id_message is None or isinstance(webhook.id_message, str)
    if isinstance(webhook, MessageWebhook):
        assert isinstance(webhook.type_message, str)
        assert webhook.text is None or isinstance(webhook.text, str)
        assert webhook.stanza_id is None or isinstance(webhook.stanza_id, str)
