"""Realistic GREEN-API webhook bodies for scripted conversations (tests, bench, e2e).

Shapes follow events/ (written from GREEN-API's documentation); only the fields a
conversation varies are parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TYPE_WEBHOOK = {
    "incoming": "incomingMessageReceived",
    "outgoing": "outgoingMessageReceived",
    "api": "outgoingAPIMessageReceived",
}


@dataclass(frozen=True)
class Instance:
    """One GREEN-API instance: the webhooks it sends carry its id and own WhatsApp id."""

    id_instance: int = 1101000001
    wid: str = "79001234567@c.us"

    def _envelope(self, type_webhook: str, timestamp: int) -> dict[str, Any]:
        return {
            "typeWebhook": type_webhook,
            "instanceData": {
                "idInstance": self.id_instance,
                "wid": self.wid,
                "typeInstance": "whatsapp",
            },
            "timestamp": timestamp,
        }

    def _message(
        self,
        direction: str,
        id_message: str,
        chat_id: str,
        timestamp: int,
        message_data: dict,
        sender: str | None,
        sender_name: str,
    ) -> dict[str, Any]:
        outgoing = direction != "incoming"
        return {
            **self._envelope(TYPE_WEBHOOK[direction], timestamp),
            "idMessage": id_message,
            "senderData": {
                "chatId": chat_id,
                "chatName": sender_name if chat_id.endswith("@c.us") else "Team chat",
                "sender": self.wid if outgoing else (sender or chat_id),
                "senderName": "greenhook" if outgoing else sender_name,
                "senderContactName": "",
            },
            "messageData": message_data,
        }

    def text(
        self,
        id_message: str,
        chat_id: str,
        timestamp: int,
        text: str,
        *,
        direction: str = "incoming",
        sender: str | None = None,
        sender_name: str = "Ann",
        quoted: str | None = None,
    ) -> dict[str, Any]:
        """A text message; with `quoted`, a reply to that idMessage (extendedTextMessage)."""
        if quoted is None:
            data = {"typeMessage": "textMessage", "textMessageData": {"textMessage": text}}
        else:
            data = {
                "typeMessage": "extendedTextMessage",
                "extendedTextMessageData": {"text": text, "stanzaId": quoted},
                "quotedMessage": {"stanzaId": quoted, "typeMessage": "textMessage"},
            }
        return self._message(direction, id_message, chat_id, timestamp, data, sender, sender_name)

    def image(
        self,
        id_message: str,
        chat_id: str,
        timestamp: int,
        caption: str,
        *,
        thumbnail: str = "",
        direction: str = "incoming",
        sender: str | None = None,
        sender_name: str = "Ann",
    ) -> dict[str, Any]:
        data = {
            "typeMessage": "imageMessage",
            "fileMessageData": {
                "downloadUrl": f"https://sw-media.storage.example/{id_message}.jpg",
                "caption": caption,
                "fileName": f"{id_message}.jpg",
                "jpegThumbnail": thumbnail,
                "mimeType": "image/jpeg",
            },
        }
        return self._message(direction, id_message, chat_id, timestamp, data, sender, sender_name)

    def edit(
        self,
        id_message: str,
        original: str,
        chat_id: str,
        timestamp: int,
        text: str,
        *,
        direction: str = "incoming",
        sender: str | None = None,
    ) -> dict[str, Any]:
        data = {
            "typeMessage": "editedMessage",
            "editedMessageData": {"textMessage": text, "stanzaId": original},
        }
        return self._message(direction, id_message, chat_id, timestamp, data, sender, "Ann")

    def deletion(
        self,
        id_message: str,
        original: str,
        chat_id: str,
        timestamp: int,
        *,
        direction: str = "incoming",
        sender: str | None = None,
    ) -> dict[str, Any]:
        data = {"typeMessage": "deletedMessage", "deletedMessageData": {"stanzaId": original}}
        return self._message(direction, id_message, chat_id, timestamp, data, sender, "Ann")

    def reaction(
        self,
        id_message: str,
        original: str,
        chat_id: str,
        timestamp: int,
        emoji: str,
        *,
        direction: str = "incoming",
        sender: str | None = None,
    ) -> dict[str, Any]:
        """A reaction to `original`; an empty emoji takes the sender's reaction back."""
        data = {
            "typeMessage": "reactionMessage",
            "extendedTextMessageData": {"text": emoji},
            "quotedMessage": {"stanzaId": original, "participant": sender or chat_id},
        }
        return self._message(direction, id_message, chat_id, timestamp, data, sender, "Ann")

    def status(
        self, id_message: str, chat_id: str, timestamp: int, status: str, *, description: str = ""
    ) -> dict[str, Any]:
        body = {
            **self._envelope("outgoingMessageStatus", timestamp),
            "chatId": chat_id,
            "idMessage": id_message,
            "status": status,
            "sendByApi": True,
        }
        if description:
            body["description"] = description
        return body

    def call(
        self, id_call: str, chat_id: str, timestamp: int, status: str, *, incoming: bool = True
    ) -> dict[str, Any]:
        return {
            **self._envelope("incomingCall" if incoming else "outgoingCall", timestamp),
            "from": chat_id,
            "idMessage": id_call,
            "status": status,
        }
