"""Request-body schemas, field for field from the togai-client 1.0.3 request models."""

from __future__ import annotations

from billsync.sandbox.togai.validation import (
    ANYTHING,
    BOOLEAN,
    DATETIME,
    INTEGER,
    NUMBER,
    STRING,
    STRING_MAP,
    Spec,
    array,
    enum,
    obj,
    text,
)

SETTING_DATA_TYPES = ("STRING", "NUMERIC", "JSON", "JSON_LOGIC")
# The Account response model holds 0-10 settings and 0-10 aliases; an answer with more
# fails to parse (pydantic ValidationError in get_account, update_account, get_accounts).
ACCOUNT_MAX_EMBEDDED = 10

ADDRESS = obj(
    {
        "phoneNumber": STRING,
        "line1": STRING,
        "line2": STRING,
        "postalCode": STRING,
        "city": STRING,
        "state": STRING,
        "country": STRING,
    }
)

ENTITY_SETTING = obj(
    {
        "id": text(1, 255, required=True),
        "value": text(required=True),
        "namespace": text(1, 255, required=True),
        "name": text(1, 255, required=True),
        "dataType": enum(*SETTING_DATA_TYPES, required=True),
    }
)

BILLING_INFORMATION = obj(
    {"emailRecipients": array(STRING), "additionalEmailRecipients": array(STRING)}
)

ACCOUNT_ALIAS = obj(
    {"value": text(1, 50, required=True), "effectiveFrom": DATETIME, "effectiveUntil": DATETIME}
)

_ACCOUNT_FIELDS: dict[str, Spec] = {
    "id": text(1, 50, required=True),
    "name": text(3, 255, required=True),
    "invoiceCurrency": text(3, 3),
    "aliases": array(text(3, 50), 0, ACCOUNT_MAX_EMBEDDED),
    "accountAliases": array(ACCOUNT_ALIAS),
    "address": ADDRESS,
    "primaryEmail": text(max_len=320),
    "billingInformation": BILLING_INFORMATION,
    "settings": array(ENTITY_SETTING, 0, ACCOUNT_MAX_EMBEDDED),
    "netTermDays": INTEGER,
    "metadata": STRING_MAP,
    "tags": array(STRING),
    "status": enum("ACTIVE", "DRAFT"),
}

CREATE_ACCOUNT = {**_ACCOUNT_FIELDS, "customerId": text(1, 255, required=True)}
CREATE_ACCOUNT_WITHOUT_CUSTOMER = _ACCOUNT_FIELDS

UPDATE_ACCOUNT: dict[str, Spec] = {
    "name": text(3, 255),
    "status": enum("ACTIVE", "DRAFT"),
    "invoiceCurrency": text(3, 3),
    "netTermDays": INTEGER,
    "primaryEmail": text(max_len=320),
    "billingInformation": BILLING_INFORMATION,
    "address": ADDRESS,
    "tags": array(STRING),
    "metadata": STRING_MAP,
}

CREATE_CUSTOMER: dict[str, Spec] = {
    "id": text(1, 50, required=True),
    "name": text(3, 255, required=True),
    "primaryEmail": text(max_len=320, required=True),
    "address": Spec("object", True, fields=ADDRESS.fields),
    "settings": array(ENTITY_SETTING, 0, 10),
    "account": obj(CREATE_ACCOUNT_WITHOUT_CUSTOMER),
}

UPDATE_CUSTOMER: dict[str, Spec] = {
    "name": text(3, 255),
    "primaryEmail": text(max_len=320),
    "address": ADDRESS,
}

SETTING: dict[str, Spec] = {
    "id": text(1, 255, required=True),
    "value": text(required=True),
    "entityType": text(1, 50, required=True),
    "entityId": text(1, 255, required=True),
    "namespace": text(1, 255, required=True),
    "name": text(1, 255, required=True),
    "dataType": enum(*SETTING_DATA_TYPES, required=True),
}

UPDATE_SETTING: dict[str, Spec] = {
    "name": text(1, 255),
    "value": STRING,
    "dataType": enum(*SETTING_DATA_TYPES),
}

CUSTOM_LINE_ITEM = obj(
    {
        "id": STRING,
        "description": STRING,
        "valuePerQuantity": NUMBER,
        "quantity": NUMBER,
        "value": NUMBER,
        "billableId": STRING,
    }
)

CREATE_CUSTOM_INVOICE: dict[str, Spec] = {
    "accountId": text(1, required=True),
    "ownerType": enum("ACCOUNT", "INVOICE_GROUP"),
    "startDate": Spec("datetime", True),
    "endDate": Spec("datetime", True),
    "idempotencyKey": STRING,
    "status": enum("DRAFT", "DUE", "PAID", required=True),
    "lineItems": array(CUSTOM_LINE_ITEM, 1, 50, required=True),
    "autoAdvance": BOOLEAN,
    "applyCredits": BOOLEAN,
    "applyWalletBalance": BOOLEAN,
}

UPDATE_INVOICE: dict[str, Spec] = {
    "startDate": DATETIME,
    "endDate": DATETIME,
    "status": enum("DUE", "PAID", "VOID", "UN_COLLECTIBLE", "REFUND_INITIATED"),
    "lineItems": array(CUSTOM_LINE_ITEM, 1, 50),
    "autoAdvance": BOOLEAN,
}

EXTERNAL_PAYMENT_REFERENCE = obj(
    {
        "sourceName": text(1, required=True),
        "sourceType": enum("GATEWAY", "CASH", "CHEQUE", "BANK_TRANSFER", "CARD", required=True),
        "transactionNumber": text(1, required=True),
        "description": STRING,
        "metadata": Spec("any"),
    },
    required=True,
)

PAYMENT_LINE_ITEM = obj(
    {
        "type": enum("INVOICE", "CREDIT", "WALLET_CREDIT", required=True),
        "togaiId": STRING,
        "amount": NUMBER,
        "order": Spec("int", True),
    }
)

CREATE_PAYMENT: dict[str, Spec] = {
    "accountId": text(1, 512, required=True),
    "currency": text(1, 512, required=True),
    "totalAmount": Spec("number", True),
    "externalPaymentReference": EXTERNAL_PAYMENT_REFERENCE,
    "lineItemRecords": array(PAYMENT_LINE_ITEM, 1, required=True),
    "description": text(max_len=512),
    "notes": text(max_len=512),
}

SANDBOX_INVOICE: dict[str, Spec] = {
    "accountId": text(1, required=True),
    "totalAmount": Spec("number", True),
    "status": enum("DRAFT", "DUE"),
    "startDate": DATETIME,
    "endDate": DATETIME,
    "pricePlanId": STRING,
    "pricePlanName": STRING,
    "metadata": ANYTHING,
}
