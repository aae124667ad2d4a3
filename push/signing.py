"""Signing a delivery as Standard Webhooks (standardwebhooks.com) does, so that a receiver
can use that spec's libraries (Python, Node, Go, Java, C#, PHP, Ruby, Rust) or the few
lines below. Chosen over a scheme of our own: it is Stripe's recipe, written down, with
the message id signed too.

Headers of every delivery:

    webhook-id:        the message id; the same at every attempt (de-duplicate on it)
    webhook-timestamp: seconds since 1970-01-01 UTC, when this attempt was signed
    webhook-signature: "v1," + base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}"))

where `key` is the base64-decoded part of the subscription's secret after "whsec_", and
`body` the exact bytes received. To verify: recompute the HMAC and compare in constant
time with each space-separated "v1,..." in the header; refuse a timestamp more than
five minutes from your clock (replay), and a message id you have already processed.
"""

import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message_id, timestamp, body),
    }
