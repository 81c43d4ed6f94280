"""greenhook's own handlers: each webhook type becomes storage writes (see greenhook.storage).

Message webhooks are dispatched again by typeMessage: an edit, a deletion, a reaction or a
poll vote applies to the message it references (its stanzaId), whatever the arrival order;
every other typeMessage, known or not, is stored as a message of its chat.
"""

from __future__ import annotations

from collections.abc import Callable

from greenhook.dispatch import registry
from greenhook.models import (
    CallWebhook,
    ContactAvatar,
    DeletedMessage,
    DeviceInfo,
    EditedMessage,
    IncomingBlock,
    MessageWebhook,
    OutgoingCall,
    OutgoingMessageStatus,
    PollUpdateMessage,
    QuotaExceeded,
    ReactionMessage,
    StateInstanceChanged,
    StatusInstanceChanged,
)
from greenhook.storage import MessageContent, Storage

MESSAGE_WEBHOOKS = (
    "incomingMessageReceived",
    "outgoingMessageReceived",
    "outgoingAPIMessageReceived",
)


def message_content(webhook: MessageWebhook, source: str | None = None) -> MessageContent:
    """What a message webhook says about its message, as storage keeps it."""
    sent = webhook.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return MessageContent(
        id_instance=webhook.id_instance,
        id_message=webhook.idMessage,
        chat_id=webhook.chat_id,
        timestamp=webhook.timestamp,
        type_webhook=webhook.typeWebhook,
        direction=webhook.direction,
        type_message=webhook.type_message,
        sender=webhook.sender,
        sender_name=webhook.senderData.senderName,
        chat_name=webhook.senderData.chatName,
        text=webhook.text,
        stanza_id=webhook.stanza_id,
        message_data=sent["messageData"],
        source=source,
    )


def _store_content(webhook: MessageWebhook, storage: Storage) -> None:
    storage.put_message(message_content(webhook))


def _store_edit(webhook: MessageWebhook, storage: Storage) -> None:
    edited = webhook.messageData
    assert isinstance(edited, EditedMessage)
    storage.put_edit(
        webhook.id_instance,
        edited.stanza_id,
        webhook.idMessage,
        webhook.timestamp,
        edited.text,
        webhook.chat_id,
    )


def _store_deletion(webhook: MessageWebhook, storage: Storage) -> None:
    deleted = webhook.messageData
    assert isinstance(deleted, DeletedMessage)
    storage.put_deletion(
        webhook.id_instance,
        deleted.stanza_id,
        webhook.idMessage,
        webhook.timestamp,
        webhook.chat_id,
    )


def _store_reaction(webhook: MessageWebhook, storage: Storage) -> None:
    reaction = webhook.messageData
    assert isinstance(reaction, ReactionMessage)
    storage.put_reaction(
        webhook.id_instance,
        reaction.quotedMessage.stanzaId,
        webhook.idMessage,
        webhook.sender,
        reaction.text or "",  # empty: the sender took their reaction back
        webhook.timestamp,
        webhook.chat_id,
    )


def _store_poll_votes(webhook: MessageWebhook, storage: Storage) -> None:
    update = webhook.messageData
    assert isinstance(update, PollUpdateMessage)
    votes = [vote.model_dump(mode="json") for vote in update.pollMessageData.votes]
    storage.put_poll_votes(
        webhook.id_instance,
        update.pollMessageData.stanzaId,
        webhook.idMessage,
        webhook.timestamp,
        votes,
        webhook.chat_id,
    )


# typeMessage -> writer, for messages that change another message; the rest are content.
REFERENCE_WRITERS: dict[str, Callable[[MessageWebhook, Storage], None]] = {
    "editedMessage": _store_edit,
    "deletedMessage": _store_deletion,
    "reactionMessage": _store_reaction,
    "pollUpdateMessage": _store_poll_votes,
}


def store_message(webhook: MessageWebhook, storage: Storage) -> None:
    """incomingMessageReceived, outgoingMessageReceived, outgoingAPIMessageReceived."""
    REFERENCE_WRITERS.get(webhook.type_message, _store_content)(webhook, storage)


for _type_webhook in MESSAGE_WEBHOOKS:
    registry.register(_type_webhook)(store_message)


@registry.register("outgoingMessageStatus")
def store_message_status(webhook: OutgoingMessageStatus, storage: Storage) -> None:
    """sent/delivered/read/failed...; kept even when its message is not stored (yet)."""
    storage.put_message_status(
        webhook.id_instance,
        webhook.idMessage,
        webhook.status,
        webhook.timestamp,
        chat_id=webhook.chat_id,
        description=webhook.description,
    )


@registry.register("stateInstanceChanged")
def store_instance_state(webhook: StateInstanceChanged, storage: Storage) -> None:
    """The instance's authorization state; the newest timestamp wins."""
    storage.put_instance_state(
        webhook.id_instance, webhook.stateInstance, webhook.timestamp, wid=webhook.instanceData.wid
    )


@registry.register("statusInstanceChanged")
def store_instance_status(webhook: StatusInstanceChanged, storage: Storage) -> None:
    storage.put_instance_status(webhook.id_instance, webhook.statusInstance, webhook.timestamp)


@registry.register("deviceInfo")
def store_device_info(webhook: DeviceInfo | ContactAvatar, storage: Storage) -> None:
    """The phone's details, or (the avatarInfo shape) a contact's avatar."""
    if isinstance(webhook, ContactAvatar):
        chat_id = webhook.avatarInfo.chat_id
        if chat_id is None:
            raise ValueError("avatarInfo.chatId is not a chat id: nothing to attach it to")
        avatar = webhook.avatarInfo.model_dump(mode="json", exclude_none=True)
        storage.put_avatar(webhook.id_instance, chat_id, avatar, webhook.timestamp)
        return
    device = webhook.deviceData.model_dump(mode="json", exclude_none=True)
    storage.put_device(webhook.id_instance, device, webhook.timestamp)


@registry.register("incomingCall")
@registry.register("outgoingCall")
def store_call(webhook: CallWebhook, storage: Storage) -> None:
    """A call's statuses (offer, pickUp, hungUp...) under its idMessage."""
    storage.put_call_status(
        webhook.id_instance,
        webhook.idMessage,
        webhook.normalised_status or "offer",  # the oldest incomingCall example has none
        webhook.timestamp,
        {
            "chat_id": webhook.chat_id,
            "direction": "outgoing" if isinstance(webhook, OutgoingCall) else "incoming",
            "is_video": webhook.isVideo,
        },
    )
    if webhook.duration:
        storage.put_call_duration(webhook.id_instance, webhook.idMessage, webhook.duration)


@registry.register("incomingBlock")
def store_block(webhook: IncomingBlock, storage: Storage) -> None:
    storage.put_chat_block(
        webhook.id_instance, webhook.chat_id, webhook.chatState, webhook.timestamp
    )


@registry.register("quotaExceeded")
def store_quota(webhook: QuotaExceeded, storage: Storage) -> None:
    quota = webhook.quotaData.model_dump(mode="json", exclude_none=True)
    storage.put_quota(webhook.id_instance, quota, webhook.timestamp)
